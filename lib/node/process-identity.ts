// Who a pid is: its boot and its start time (clock ticks since boot), from /proc, with its command line.
// A pid alone is not an identity: after a reboot or a long uptime it names another process, and
// signalling that stranger is how an agent kills someone else's work.
import { readFile } from 'node:fs/promises';

export interface ProcessIdentity {
  pid: number;
  bootId: string;
  startTicks: string;
  cmdline: string[];
}

/** The identity of a live, non-zombie process, or undefined when there is none under that pid. */
export async function identify(pid: number): Promise<ProcessIdentity | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const [stat, cmdline, bootId] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
      readFile('/proc/sys/kernel/random/boot_id', 'utf8'),
    ]);
    // The command name in parentheses may hold spaces and ')': fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    const startTicks = fields[19];
    if (state === 'Z' || state === 'X' || startTicks === undefined) return undefined;
    return { pid, bootId: bootId.trim(), startTicks, cmdline: cmdline.split('\0').filter((part, i, all) => part !== '' || i < all.length - 1) };
  } catch {
    return undefined;
  }
}

/**
 * True when the process recorded as `expected` still runs: same pid, boot and start time, which no
 * other process can share. The command line is not compared: many programs rewrite theirs after
 * starting (npm, process.title, gunicorn); it is kept for logs and for records without a start time.
 */
export async function stillRunning(expected: ProcessIdentity): Promise<boolean> {
  const now = await identify(expected.pid);
  return now !== undefined && now.bootId === expected.bootId && now.startTicks === expected.startTicks;
}

/**
 * Sends `signal` to the process group `pid` leads (apps and commands are started as group leaders).
 * Never to the bare pid: once the group is empty that number may belong to anyone.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}
