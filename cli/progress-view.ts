// The live per-node view `gantry deploy --wait` draws on a terminal: the phase, a count per node state,
// one row per node (the nodes in flight first when the fleet is taller than the screen) and the last
// events, redrawn in place. Off a terminal the caller prints the event log line by line instead.
import type { LiveStatus } from '../client/deployments';
import { describeWaiting } from '../client/waiting-steps';
import type { NodeState } from '../workflows/api';
import { describeApproval, describePools } from './format';

const ORDER: NodeState['state'][] = ['failed', 'rolled-back', 'deploying', 'pending', 'live'];
const MARK: Record<NodeState['state'], string> = { pending: '·', deploying: '▶', live: '✓', failed: '✗', 'rolled-back': '↺' };

/** The frame for one status, at most `rows` lines tall. */
export function renderProgress(status: LiveStatus, rows: number, elapsedMs: number): string[] {
  const counts = ORDER.map((state) => [state, status.nodes.filter((n) => n.state === state).length] as const).filter(([, n]) => n > 0);
  const header = [
    `${status.workflowId}  ${status.release}  phase ${status.phase}${status.paused ? ' (paused)' : ''}${status.approvalsNeeded > 0 ? `, ${status.approvalsNeeded} approval(s) needed` : ''}  ${(elapsedMs / 1000).toFixed(1)} s`,
    `  ${counts.map(([state, n]) => `${n} ${state}`).join(', ')}`,
    ...(status.approvals.length ? [`  approved by ${status.approvals.map(describeApproval).join(', ')}`] : []),
    ...(status.pools ? describePools(status.pools).map((line) => `  ${line}`) : []),
    ...(status.waiting ?? []).slice(0, 3).map((step) => `  retrying ${describeWaiting(step)}`),
  ];
  const events = status.events.slice(-3).map((e) => `  ${e.time.slice(11, 19)}  ${e.what}`);
  const room = Math.max(1, rows - header.length - events.length - 1);
  const byUrgency = [...status.nodes].sort((a, b) => ORDER.indexOf(a.state) - ORDER.indexOf(b.state));
  const shown = status.nodes.length <= room ? status.nodes : byUrgency.slice(0, room - 1);
  const nodeLines = shown.map(
    (n) => `  ${MARK[n.state]} ${n.id.padEnd(16)}${n.pool ? n.pool.padEnd(7) : ''}${n.state.padEnd(13)}${(n.release ?? '-').padEnd(14)}${n.lb}${n.error ? `  ${n.error}` : ''}`,
  );
  if (shown.length < status.nodes.length) nodeLines.push(`  … and ${status.nodes.length - shown.length} more`);
  return [...header, ...nodeLines, '', ...events];
}

/** Draws frames on `out` (a TTY), replacing the previous one, until `done` settles. */
export async function drawProgress(
  read: () => Promise<LiveStatus | undefined>,
  out: NodeJS.WriteStream,
  done: Promise<unknown>,
): Promise<void> {
  const started = Date.now();
  let drawn = 0;
  let finished = false;
  void done.then(() => (finished = true));
  for (;;) {
    const last = finished;
    const status = await read();
    if (status) {
      const width = out.columns || 120;
      const frame = renderProgress(status, Math.max(8, (out.rows || 40) - 2), Date.now() - started).map((line) => line.slice(0, width - 1));
      // Move to the first line of the previous frame and clear to the end of the screen.
      out.write(`${drawn > 0 ? `\x1b[${drawn}F\x1b[J` : ''}${frame.join('\n')}\n`);
      drawn = frame.length;
    }
    if (last) return;
    await Promise.race([new Promise((r) => setTimeout(r, 250)), done]);
  }
}
