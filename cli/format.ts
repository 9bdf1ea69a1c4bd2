// Human-readable rendering of a deployment's status.
import type { Approval, DeployStatus } from '../workflows/api';

/** "alice (signed, key SHA256:…)" or "bob (not signed)": who approved and whether the orchestrator verified it. */
export function describeApproval(a: Approval): string {
  return `${a.by} (${a.verified ? `signed, key ${a.fingerprint ?? '?'}` : 'not signed'})`;
}

export function formatStatus(status: DeployStatus): string {
  const lines = [
    `${status.workflowId}  ${status.release} (${status.commit?.slice(0, 12) ?? 'unverified'})  requested by ${status.requestedBy}`,
    `phase ${status.phase}${status.paused ? ' (paused)' : ''}${status.approvalsNeeded > 0 ? `, ${status.approvalsNeeded} more approval(s) needed${status.approvalsMissing.length ? ` (${status.approvalsMissing.join(', ')})` : ''}` : ''}`,
  ];
  if (status.plan) lines.push(`plan ${status.plan.hash.slice(0, 12)}…: ${status.plan.summary}${status.signing?.approvals ? '; only signed approvals count' : ''}`);
  if (status.approvals.length > 0) lines.push(`approved by ${status.approvals.map(describeApproval).join(', ')}`);
  lines.push('', `  ${'NODE'.padEnd(16)}${'STATE'.padEnd(13)}${'RELEASE'.padEnd(14)}${'WAS'.padEnd(14)}LB`);
  for (const n of status.nodes) {
    lines.push(`  ${n.id.padEnd(16)}${n.state.padEnd(13)}${(n.release ?? '-').padEnd(14)}${(n.previousRelease ?? '-').padEnd(14)}${n.lb}${n.error ? `  (${n.error})` : ''}`);
  }
  lines.push('', 'events:');
  for (const e of status.events) lines.push(`  ${e.time}  ${e.who ? `[${e.who}] ` : ''}${e.what}`);
  return lines.join('\n');
}
