// Human-readable rendering of a deployment's status.
import type { DeployStatus } from '../workflows/api';

export function formatStatus(status: DeployStatus): string {
  const lines = [
    `${status.workflowId}  ${status.release} (${status.commit?.slice(0, 12) ?? 'unverified'})  requested by ${status.requestedBy}`,
    `phase ${status.phase}${status.paused ? ' (paused)' : ''}${status.approvalsNeeded > 0 ? `, ${status.approvalsNeeded} more approval(s) needed` : ''}`,
  ];
  if (status.approvals.length > 0) lines.push(`approved by ${status.approvals.map((a) => a.by).join(', ')}`);
  lines.push('', `  ${'NODE'.padEnd(16)}${'STATE'.padEnd(13)}${'RELEASE'.padEnd(14)}${'WAS'.padEnd(14)}LB`);
  for (const n of status.nodes) {
    lines.push(`  ${n.id.padEnd(16)}${n.state.padEnd(13)}${(n.release ?? '-').padEnd(14)}${(n.previousRelease ?? '-').padEnd(14)}${n.lb}${n.error ? `  (${n.error})` : ''}`);
  }
  lines.push('', 'events:');
  for (const e of status.events) lines.push(`  ${e.time}  ${e.who ? `[${e.who}] ` : ''}${e.what}`);
  return lines.join('\n');
}
