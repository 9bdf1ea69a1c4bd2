// Runs an argv (no shell) in its own process group with a deadline, streaming its output lines to a
// callback. At the deadline (or on cancellation) the whole group is ended — SIGTERM, then SIGKILL after
// a grace — so a hung command and anything it started are gone and the agent can take the next work.
import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { inheritedEnv } from './child-env';
import { identify, signalGroup, stillRunning, type ProcessIdentity } from './process-identity';

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** The command ran past its deadline and its process group was ended. */
  timedOut: boolean;
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
  /** How long the group has between SIGTERM and SIGKILL at the deadline. */
  killGraceMs?: number;
  /**
   * When set, the identity of the command's process (pid, boot, start time, command line) is kept in
   * this file while it runs: if the agent dies, the next agent ends the leftover (endLeftoverCommand).
   */
  pidFile?: string;
}

/** How long output may keep flowing after the command exited (a grandchild holding the pipes). */
const outputAfterExitMs = 2_000;

/**
 * Ends a command a previous agent left running (its transaction rolls back; a retry starts clean),
 * only when the recorded identity still matches: a pid some other process reused is left alone.
 */
export async function endLeftoverCommand(pidFile: string): Promise<{ pid: number; ended: boolean } | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  await rm(pidFile, { force: true });
  if (!text) return undefined;
  let identity: ProcessIdentity;
  try {
    identity = JSON.parse(text) as ProcessIdentity;
  } catch {
    return undefined;
  }
  if (!Number.isInteger(identity.pid) || identity.pid <= 0) return undefined;
  if (!(await stillRunning(identity))) return { pid: identity.pid, ended: false };
  signalGroup(identity.pid, 'SIGKILL');
  return { pid: identity.pid, ended: true };
}

export async function runCommand(argv: string[], options: RunOptions): Promise<CommandResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const started = Date.now();
  const tail: string[] = [];
  const errors: string[] = [];
  options.signal?.throwIfAborted();
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: { ...inheritedEnv(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: the deadline and a cancellation end everything it started.
    detached: true,
  });
  const collect = (stream: 'stdout' | 'stderr') => (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    if (errors.length < 5 && /\berror\b/i.test(line) && !/^\s+at /.test(line)) errors.push(line.trim());
    options.onLine?.(stream, line);
  };
  createInterface({ input: child.stdout }).on('line', collect('stdout'));
  createInterface({ input: child.stderr }).on('line', collect('stderr'));

  // Listeners first, pid file after: a command that ends at once is still seen to end.
  let timedOut = false;
  const finished = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode, signal) => {
      // Output still in the pipes is read until they close, or for a short while if a grandchild holds them.
      const drained = new Promise<void>((done) => {
        if (child.stdout.closed && child.stderr.closed) return done();
        child.once('close', () => done());
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          done();
        }, outputAfterExitMs).unref();
      });
      void drained.then(() => resolve({ exitCode, signal }));
    });
  });
  const pid = child.pid;
  let killTimer: NodeJS.Timeout | undefined;
  const endGroup = () => {
    if (pid === undefined || killTimer) return;
    signalGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), options.killGraceMs ?? 5_000);
  };
  const deadline = setTimeout(() => {
    timedOut = true;
    endGroup();
  }, options.timeoutMs);
  options.signal?.addEventListener('abort', endGroup, { once: true });

  try {
    if (options.pidFile && pid !== undefined) {
      try {
        const identity = await identify(pid);
        if (identity) await writeFile(options.pidFile, JSON.stringify(identity), { mode: 0o600 });
      } catch (err) {
        // Untracked, it would outlive this agent beside the retry: end it now.
        signalGroup(pid, 'SIGKILL');
        await finished.catch(() => undefined);
        throw err;
      }
    }
    const { exitCode, signal } = await finished;
    // Whatever the command left in its group goes with it.
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
    return { exitCode, signal, timedOut, durationMs: Date.now() - started, tail, errors };
  } finally {
    clearTimeout(deadline);
    clearTimeout(killTimer);
    options.signal?.removeEventListener('abort', endGroup);
    if (options.pidFile) await rm(options.pidFile, { force: true });
  }
}
