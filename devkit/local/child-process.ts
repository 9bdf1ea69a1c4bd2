// Long-running helper processes for the local stack: output to a log file, stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { waitUntil } from '../../lib/core/wait';
import { reapLater } from './reaper';

export interface ManagedProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  exited(): boolean;
  stop(graceMs?: number): Promise<void>;
  logTail(lines?: number): Promise<string>;
}

export function startProcess(file: string, args: string[], options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): ManagedProcess {
  const out = openSync(options.logFile, 'a');
  const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', out, out] });
  closeSync(out);
  reapLater({ kind: 'spawned', pid: child.pid });
  let gone = false;
  child.once('exit', () => (gone = true));
  child.once('error', () => (gone = true));
  return {
    child,
    logFile: options.logFile,
    exited: () => gone,
    async stop(graceMs = 10_000) {
      if (gone) return;
      child.kill('SIGTERM');
      if (!(await waitUntil(() => gone, graceMs, 50))) {
        child.kill('SIGKILL');
        await waitUntil(() => gone, 5_000, 50);
      }
    },
    async logTail(lines = 30) {
      const text = await readFile(options.logFile, 'utf8').catch(() => '');
      return text.split('\n').slice(-lines).join('\n');
    },
  };
}
