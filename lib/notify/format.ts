// What a notification says, in Slack's incoming-webhook format or as a signed generic JSON webhook.
import { createHmac } from 'node:crypto';

export interface Notice {
  event: string;
  environment: string;
  release: string;
  commit: string | null;
  requestedBy: string;
  workflowId: string;
  phase: string;
  nodes: { id: string; release: string | null; state: string }[];
  changes?: { total: number; commits: { sha: string; author: string; subject: string }[] };
  reason?: string;
  [extra: string]: unknown;
}

export const SIGNATURE_HEADER = 'x-gantry-signature-256';

const HEADLINES: Record<string, (n: Notice) => string> = {
  requested: (n) => `Deployment of ${n.release} to ${n.environment} requested by ${n.requestedBy}`,
  'awaiting-approval': (n) => `${n.release} → ${n.environment} is waiting for approval`,
  approved: (n) => `${n.release} → ${n.environment} approved`,
  'approval-timed-out': (n) => `${n.release} → ${n.environment}: approval timed out`,
  started: (n) => `Deploying ${n.release} to ${n.environment}`,
  'batch-done': (n) => `${n.release} → ${n.environment}: batch ${String(n.batch)} is live`,
  switched: (n) => `${n.environment}: traffic switched to ${n.release}`,
  'switched-back': (n) => `${n.environment}: traffic switched back from ${n.release}`,
  succeeded: (n) => `${n.release} is live on ${n.environment}`,
  failed: (n) => `Deployment of ${n.release} to ${n.environment} failed`,
  'rolled-back': (n) => `${n.release} → ${n.environment} rolled back`,
  aborted: (n) => `${n.release} → ${n.environment} aborted`,
  superseded: (n) => `${n.release} → ${n.environment} superseded, not deployed`,
  locked: (n) => `${n.environment} is locked: deployments wait until \`gantry unlock ${n.environment}\``,
};

export function headline(notice: Notice): string {
  return (HEADLINES[notice.event] ?? ((n: Notice) => `${n.release} → ${n.environment}: ${n.event}`))(notice);
}

/** Slack incoming webhook: `text` (the fallback) plus mrkdwn section blocks. */
export function slackMessage(notice: Notice): { text: string; blocks: unknown[] } {
  const text = `${headline(notice)}${notice.reason ? `: ${notice.reason}` : ''}`;
  const blocks: unknown[] = [{ type: 'section', text: { type: 'mrkdwn', text: `*${escapeSlack(text)}*` } }];
  const changes = notice.changes;
  if (changes && changes.commits.length > 0) {
    const lines = changes.commits.slice(0, 10).map((c) => `• \`${c.sha.slice(0, 7)}\` ${escapeSlack(c.subject)} — ${escapeSlack(c.author.replace(/ <.*>$/, ''))}`);
    if (changes.total > 10) lines.push(`… and ${changes.total - 10} more`);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*${changes.total} change${changes.total === 1 ? '' : 's'}*\n${lines.join('\n')}` } });
  }
  const authors = Array.isArray(notice.authors) ? (notice.authors as { principal: string; commits: number }[]) : [];
  if (authors.length > 0) {
    const waiting = Array.isArray(notice.stillNeeded) ? (notice.stillNeeded as string[]) : [];
    const lines = authors.map((a) => `• ${escapeSlack(a.principal)} — ${a.commits} commit${a.commits === 1 ? '' : 's'}`);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Authors who approve*\n${lines.join('\n')}${waiting.length ? `\nStill needed: ${escapeSlack(waiting.join('; '))}` : ''}` } });
  }
  const approvals = Array.isArray(notice.approvals) ? (notice.approvals as { by: string; verified?: boolean; fingerprint?: string }[]) : [];
  if (approvals.length > 0) {
    const lines = approvals.map((a) => `• ${escapeSlack(a.by)} — ${a.verified ? `signed, key \`${escapeSlack(a.fingerprint ?? '?')}\`` : 'not signed'}`);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Approvals*\n${lines.join('\n')}` } });
  }
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `${escapeSlack(notice.workflowId)} · requested by ${escapeSlack(notice.requestedBy)}` }],
  });
  return { text, blocks };
}

/** HMAC-SHA256 over the exact body bytes, as `sha256=<hex>` (GitHub's convention). */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
