// Nothing left behind: every process the devkit starts (Temporal, HAProxy, PostgreSQL, agents, workers,
// the apps the agents start) is written to the session's reap list, and a detached watchdog ends them
// all once the session's owner (the test runner, the demo) has exited — after Ctrl-C, SIGTERM, a CI
// time-out's SIGKILL or a crash alike. A normal stop has already ended them; the watchdog then finds
// nothing to do. Each entry is checked against /proc before it is signalled, so a reused PID is spared.
//   watchdog: node --import tsx devkit/local/reaper.ts watch <owner-pid> <list-file>
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const LIST_VARIABLE = 'GANTRY_REAP_LIST';

type Entry =
  /** A process the devkit spawned; `cmdline` as /proc shows it (NUL-separated). */
  | { kind: 'process'; pid: number; cmdline: string }
  /** The app an agent runs under `root` (recorded in root/app.json, in a process group of its own). */
  | { kind: 'app'; root: string }
  /** A PostgreSQL cluster (its postmaster.pid names the server). */
  | { kind: 'postgres'; data: string };

/** Starts the watchdog for this process, once; children inherit the list through the environment. */
export function startReaperSession(): void {
  if (process.env[LIST_VARIABLE]) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gantry-reap-'));
  const list = path.join(dir, 'list');
  writeFileSync(list, '');
  const watchdog = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'watch', String(process.pid), list], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  process.env[LIST_VARIABLE] = list;
}

export function reapLater(entry: Entry | { kind: 'spawned'; pid: number | undefined }): void {
  const list = process.env[LIST_VARIABLE];
  if (!list) return;
  const recorded: Entry | undefined = entry.kind === 'spawned' ? (entry.pid ? { kind: 'process', pid: entry.pid, cmdline: cmdlineOf(entry.pid) ?? '' } : undefined) : entry;
  if (recorded) appendFileSync(list, `${JSON.stringify(recorded)}\n`);
}

const cmdlineOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const signal = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
};

/** What to signal for an entry, if it still runs what was recorded. */
function target(entry: Entry): { pid: number; group: boolean; first: NodeJS.Signals } | undefined {
  if (entry.kind === 'process') return cmdlineOf(entry.pid) === entry.cmdline ? { pid: entry.pid, group: false, first: 'SIGTERM' } : undefined;
  if (entry.kind === 'postgres') {
    const pid = Number(readText(path.join(entry.data, 'postmaster.pid'))?.split('\n')[0]);
    // SIGQUIT: PostgreSQL's immediate shutdown.
    return pid > 0 && cmdlineOf(pid)?.includes(entry.data) ? { pid, group: false, first: 'SIGQUIT' } : undefined;
  }
  const pid = (JSON.parse(readText(path.join(entry.root, 'app.json')) ?? '{}') as { pid?: number }).pid;
  if (!pid) return undefined;
  try {
    return readlinkSync(`/proc/${pid}/cwd`).startsWith(entry.root) ? { pid, group: true, first: 'SIGTERM' } : undefined;
  } catch {
    return undefined;
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function reap(list: string): Promise<void> {
  const entries = (readText(list) ?? '').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Entry);
  // One unreadable entry (an app.json being written) must not spare the rest.
  const targets = entries.reverse().flatMap((e) => {
    try {
      return target(e) ?? [];
    } catch {
      return [];
    }
  });
  for (const t of targets) signal(t.group ? -t.pid : t.pid, t.first);
  const deadline = Date.now() + 5_000;
  while (targets.some((t) => alive(t.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const t of targets) if (alive(t.pid)) signal(t.group ? -t.pid : t.pid, 'SIGKILL');
  rmSync(path.dirname(list), { recursive: true, force: true });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv[2] === 'watch') {
  const owner = Number(process.argv[3]);
  const list = process.argv[4]!;
  // Signals meant for the owner's terminal or group are not for the watchdog.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => {});
  const timer = setInterval(() => {
    if (alive(owner)) return;
    clearInterval(timer);
    void reap(list).finally(() => process.exit(0));
  }, 250);
}
