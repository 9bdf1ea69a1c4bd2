// Runs an argv (no shell) with a timeout, streaming its output lines to a callback.
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { inheritedEnv } from './child-env';

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** The last lines of combined output, for error messages. */
  tail: string[];
  /** The first lines that mention an error: often far above the tail, before a stack trace. */
  errors: string[];
}

export interface RunOptions {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
  /**
   * When set, the command runs in its own process group whose id is kept in this file while it
   * runs: if the agent dies, the next agent ends the leftover (see endLeftoverCommand).
   */
  pidFile?: string;
}

/** Ends a command a previous agent left running (its transaction rolls back; a retry starts clean). */
export async function endLeftoverCommand(pidFile: string): Promise<number | undefined> {
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
  await rm(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(-pid, 'SIGKILL');
    return pid;
  } catch {
    return undefined;
  }
}

export async function runCommand(argv: string[], options: RunOptions): Promise<CommandResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const started = Date.now();
  const tail: string[] = [];
  const errors: string[] = [];
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: { ...inheritedEnv(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs,
    killSignal: 'SIGTERM',
    signal: options.signal,
    detached: options.pidFile !== undefined,
  });
  if (options.pidFile && child.pid) await writeFile(options.pidFile, String(child.pid));
  const collect = (stream: 'stdout' | 'stderr') => (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    if (errors.length < 5 && /\berror\b/i.test(line) && !/^\s+at /.test(line)) errors.push(line.trim());
    options.onLine?.(stream, line);
  };
  createInterface({ input: child.stdout }).on('line', collect('stdout'));
  createInterface({ input: child.stderr }).on('line', collect('stderr'));
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ABORT_ERR') return; // reported through 'close'
      reject(err);
    });
    child.once('close', (exitCode, signal) => {
      const done = () => resolve({ exitCode, signal, durationMs: Date.now() - started, tail, errors });
      if (options.pidFile) void rm(options.pidFile, { force: true }).then(done, done);
      else done();
    });
  });
}
