// Runs an argv (no shell) with a timeout, streaming its output lines to a callback.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface CommandResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
  /** The last lines of combined output, for error messages. */
  tail: string[];
}

export interface RunOptions {
  cwd: string;
  env: Record<string, string>;
  timeoutMs: number;
  signal?: AbortSignal;
  onLine?: (stream: 'stdout' | 'stderr', line: string) => void;
}

export async function runCommand(argv: string[], options: RunOptions): Promise<CommandResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const started = Date.now();
  const tail: string[] = [];
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs,
    killSignal: 'SIGTERM',
    signal: options.signal,
  });
  const collect = (stream: 'stdout' | 'stderr') => (line: string) => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    options.onLine?.(stream, line);
  };
  createInterface({ input: child.stdout }).on('line', collect('stdout'));
  createInterface({ input: child.stderr }).on('line', collect('stderr'));
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ABORT_ERR') return; // reported through 'close'
      reject(err);
    });
    child.once('close', (exitCode, signal) => resolve({ exitCode, signal, durationMs: Date.now() - started, tail }));
  });
}
