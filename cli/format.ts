// Human-readable rendering of a deployment's status.
import type { Approval, DeployStatus, PoolStatus } from '../workflows/api';

/** "alice (signed, key SHA256:…)" or "bob (not signed)": who approved and whether the orchestrator verified it. */
export function describeApproval(a: Approval): string {
  return `${a.by} (${a.verified ? `signed, key ${a.fingerprint ?? '?'}` : 'not signed'})`;
}

/** Blue-green: which pool users reach, where the release goes, the smoke tests, the switch and the warm period, a line each. */
export function describePools(p: PoolStatus): string[] {
  const other = p.target === 'blue' ? 'green' : 'blue';
  const lines = [
    `pools: users reach ${p.live} (${p.backends[p.live]}); the release goes to ${p.target} (${p.nodes[p.target].join(', ')}), shadow ${p.shadowUrl}`,
    ...p.smoke.map((r) => `  smoke ${r.passed ? '✓' : '✗'} ${r.name}: ${r.status ?? 'no answer'}, ${r.durationMs} ms${r.passed ? '' : ` — ${r.error ?? 'failed'}${r.excerpt ? `; got: ${r.excerpt.slice(0, 120)}` : ''}`}`),
  ];
  if (p.switchedAt) lines.push(`  switched to ${p.target} at ${p.switchedAt}${p.watch ? `; watch until ${p.watch.until}${p.watch.requests !== undefined ? ` (${p.watch.requests} requests, ${p.watch.http5xx} 5xx, ${p.watch.connectionErrors} connection errors)` : ''}` : ''}`);
  if (p.switchedBack) lines.push(`  switched back to ${other} at ${p.switchedBack.at}: ${p.switchedBack.why}`);
  if (p.warmUntil) lines.push(`  ${other} stays warm until ${p.warmUntil} (gantry switch-back)`);
  return lines;
}

export function formatStatus(status: DeployStatus): string {
  const lines = [
    `${status.workflowId}  ${status.release} (${status.commit?.slice(0, 12) ?? 'unverified'})  requested by ${status.requestedBy}`,
    `phase ${status.phase}${status.paused ? ' (paused)' : ''}${status.approvalsNeeded > 0 ? `, ${status.approvalsNeeded} more approval(s) needed${status.approvalsMissing.length ? ` (${status.approvalsMissing.join(', ')})` : ''}` : ''}`,
  ];
  if (status.plan) lines.push(`plan ${status.plan.hash.slice(0, 12)}…: ${status.plan.summary}${status.signing?.approvals ? '; only signed approvals count' : ''}`);
  if (status.approvals.length > 0) lines.push(`approved by ${status.approvals.map(describeApproval).join(', ')}`);
  if (status.authors?.length) lines.push(`authors: ${status.authors.map((a) => `${a.principal} (${a.commits} commit${a.commits === 1 ? '' : 's'}, ${a.approved ? 'approved' : 'to approve'})`).join(', ')}`);
  if (status.promotedFrom) lines.push(`promoted from ${status.promotedFrom.from}: live there since ${status.promotedFrom.liveSince} (run ${status.promotedFrom.runId})`);
  if (status.ciUnavailable) lines.push(`CI checks unreadable since ${status.ciUnavailable.since}: ${status.ciUnavailable.error} (gantry accept-unchecked to go on without them)`);
  if (status.unchecked) lines.push(`CI checks NOT verified (${status.unchecked.error}): accepted by ${status.unchecked.by} at ${status.unchecked.at}: ${status.unchecked.reason}`);
  if (status.pools) lines.push(...describePools(status.pools));
  const r = status.migration?.rehearsal;
  if (r) lines.push(`rehearsal on ${r.database}: copied ${(r.bytes / 1024 / 1024).toFixed(1)} MiB in ${r.copyMs} ms (${r.method})${r.expandMs !== undefined ? `, expand ${r.expandMs} ms` : ''}${r.smokePassed ? ', smoke tests passed' : ''}${r.dropped ? ', dropped' : ''}`);
  const pool = (n: DeployStatus['nodes'][number]) => (status.pools ? (n.pool ?? '-').padEnd(7) : '');
  lines.push('', `  ${'NODE'.padEnd(16)}${status.pools ? 'POOL'.padEnd(7) : ''}${'STATE'.padEnd(13)}${'RELEASE'.padEnd(14)}${'WAS'.padEnd(14)}LB`);
  for (const n of status.nodes) {
    lines.push(`  ${n.id.padEnd(16)}${pool(n)}${n.state.padEnd(13)}${(n.release ?? '-').padEnd(14)}${(n.previousRelease ?? '-').padEnd(14)}${n.lb}${n.error ? `  (${n.error})` : ''}`);
  }
  lines.push('', 'events:');
  for (const e of status.events) lines.push(`  ${e.time}  ${e.who ? `[${e.who}] ` : ''}${e.what}`);
  return lines.join('\n');
}
