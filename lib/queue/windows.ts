// Deploy windows: whether one is open at a time, and when the next opens or this one closes.
import { Cron } from 'croner';
import type { DeployWindow } from '../config/queue-schema';

export interface WindowState {
  open: boolean;
  /** Open: when the window that is open now closes (the latest, where several overlap). */
  closesAt?: string;
  /** Closed: when the next window opens. */
  opensAt?: string;
  /** The windows as written, for messages ("0 9 * * 1-5 for 8h (Europe/Berlin)"). */
  described: string;
}

const describe = (w: DeployWindow) => `${w.cron} for ${Math.round(w.duration / 60_000)} min (${w.timezone})`;

/** No windows: always open. */
export function windowState(windows: DeployWindow[], now: Date): WindowState | null {
  if (windows.length === 0) return null;
  const described = windows.map(describe).join('; ');
  let closesAt: number | undefined;
  let opensAt: number | undefined;
  for (const w of windows) {
    const cron = new Cron(w.cron, { paused: true, timezone: w.timezone });
    // previousRuns excludes its reference: one millisecond on counts a window opening right now.
    const last = cron.previousRuns(1, new Date(now.getTime() + 1))[0];
    if (last && last.getTime() + w.duration > now.getTime()) closesAt = Math.max(closesAt ?? 0, last.getTime() + w.duration);
    const next = cron.nextRun(now);
    if (next) opensAt = Math.min(opensAt ?? Infinity, next.getTime());
  }
  if (closesAt !== undefined) return { open: true, closesAt: new Date(closesAt).toISOString(), described };
  return { open: false, ...(opensAt !== undefined ? { opensAt: new Date(opensAt).toISOString() } : {}), described };
}
