// The queue as `gantry status`, `gantry lock` and `gantry why` print it: lock, freeze, what runs, what
// waits (and behind what), what was superseded and what ended lately.
import type { QueueStatus } from '../workflows/api';

const requesters = (list: string[]) => list.join(', ');

export function describeQueue(q: QueueStatus, recent = 5, supersededShown = 20): string[] {
  const lines = [`queue ${q.workflowId}: policy ${q.policy ?? '(not read yet)'}`];
  if (q.lock) lines.push(`  locked by ${q.lock.by}${q.lock.automatic ? ' (automatically)' : ''} since ${q.lock.since}${q.lock.expiresAt ? ` until ${q.lock.expiresAt}` : ''}: ${q.lock.reason}`);
  if (q.freeze) lines.push(`  frozen by ${q.freeze.by} until ${q.freeze.until}: ${q.freeze.reason}`);
  if (q.window) lines.push(`  deploy windows ${q.window.described}: ${q.window.open ? `open until ${q.window.closesAt}` : `closed${q.window.opensAt ? `, next opens ${q.window.opensAt}` : ''}`}`);
  if (q.running) {
    const r = q.running;
    lines.push(`  running ${r.id} ${r.kind === 'rollback' ? 'rollback to ' : ''}${r.release} (run ${r.runId}) for ${requesters(r.requesters)}${r.covers.length > 1 ? `, covering ${r.covers.map((c) => c.release).join(', ')}` : ''}`);
  }
  q.pending.forEach((p, i) => lines.push(`  ${i + 1}. ${p.id} ${p.kind === 'rollback' ? 'rollback to ' : ''}${p.release} for ${requesters(p.requesters)}, since ${p.requestedAt}`));
  if (q.hold && q.pending.length > 0) lines.push(`  waiting: ${q.hold.what} — clears when ${q.hold.clears}`);
  const earlier = q.superseded.length - supersededShown;
  if (earlier > 0) lines.push(`  … ${earlier} earlier superseded request(s): gantry status --json lists them`);
  for (const s of q.superseded.slice(-supersededShown)) lines.push(`  superseded ${s.id} ${s.release} (${requesters(s.requesters)}) by ${s.by.id} ${s.by.release} at ${s.supersededAt}`);
  for (const f of q.finished.slice(-recent)) lines.push(`  ended ${f.id} ${f.release} ${f.status} at ${f.endedAt}${f.error ? `: ${f.error}` : ''}`);
  return lines;
}
