// `gantry why <env>`: the one condition holding the environment's next deployment, and what would
// clear it — read from the queue (lock, freeze, window, a deployment started around it), the running
// deployment (approval and whose, CI checks on its commit, a pause) and the server (its pending steps).
import type { Client } from '@temporalio/client';
import { calendarHold } from '../workflows/queue/queue-state';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import { clientDataConverter } from './data-converter';
import { readQueue } from './queue';
import { deploymentWorkflowId, statusQuery, type DeployStatus, type Hold, type QueueStatus } from '../workflows/api';

export interface WhyAnswer {
  environment: string;
  kind: Hold['kind'] | 'approval' | 'checks' | 'paused' | 'nothing';
  what: string;
  clears: string;
  until?: string;
  /** The request the answer is about: the next pending one, or the running one. */
  request?: { id: string; release: string };
  /** What holds it once this clears (a lock behind a running deployment, say). */
  then?: string[];
}

/** The checks a deployment's waitForChecks is waiting for, from its heartbeat (decoded with the codec). */
async function checksWaitedFor(client: Client, workflowId: string, runId: string): Promise<string[] | undefined> {
  // The chain's latest run (a deployment continues as new): its pending activities, not the first run's.
  const description = await client.workflow.getHandle(workflowId, undefined, { firstExecutionRunId: runId }).describe().catch(() => undefined);
  const pending = description?.raw.pendingActivities?.find((a) => a.activityType?.name === 'waitForChecks');
  if (!pending) return undefined;
  const details = await decodeFromPayloadsAtIndex<{ waitingFor?: string[] } | undefined>(clientDataConverter(), 0, pending.heartbeatDetails?.payloads).catch(() => undefined);
  return details?.waitingFor ?? ['the first report of the checks'];
}

/** What the running deployment itself waits on, when it is more than running. */
async function runningHold(client: Client, q: QueueStatus, status: DeployStatus | undefined): Promise<Omit<WhyAnswer, 'environment'> | undefined> {
  const r = q.running!;
  const request = { id: r.id, release: r.release };
  if (status?.phase === 'awaiting-approval') {
    const given = status.approvals.map((a) => a.by);
    return {
      kind: 'approval',
      request,
      what: `${r.workflowId} (${r.release}) waits for approval: ${status.approvalsNeeded} more needed${status.approvalsMissing.length ? ` (${status.approvalsMissing.join('; ')})` : ''}${given.length ? `; approved so far by ${given.join(', ')}` : ''}`,
      clears: `\`gantry approve ${q.environment} --as <approver>\` (or \`gantry reject\`, \`gantry abort\`)`,
    };
  }
  if (status?.phase === 'verify' && status.ciUnavailable) {
    const u = status.ciUnavailable;
    return {
      kind: 'checks',
      request,
      what: `${r.workflowId} (${r.release}) cannot read the CI checks on commit ${u.commit} (since ${u.since}: ${u.error})`,
      clears: `the CI provider answering again, or \`gantry accept-unchecked ${q.environment} --as <name> --reason <why>\` (recorded in the result)`,
    };
  }
  if (status?.phase === 'verify') {
    const checks = await checksWaitedFor(client, r.workflowId, r.runId);
    if (checks) {
      return {
        kind: 'checks',
        request,
        what: `${r.workflowId} (${r.release}) waits for CI on commit ${status.commit ?? r.commit ?? '?'}: ${checks.join(', ')} not green yet`,
        clears: 'the checks succeed (a failed check fails the deployment; fix it and tag a new release)',
      };
    }
  }
  if (status?.paused) return { kind: 'paused', request, what: `${r.workflowId} (${r.release}) is paused before its next batch`, clears: `\`gantry resume ${q.environment} --as <name>\`` };
  return undefined;
}

export async function why(client: Client, environment: string): Promise<WhyAnswer> {
  const q = await readQueue(client, environment);
  if (!q) return { environment, kind: 'nothing', what: `no request has reached ${environment}'s queue yet`, clears: 'nothing to clear: a deployment starts at once' };
  const next = q.pending[0];
  const nextRequest = next ? { request: { id: next.id, release: next.release } } : {};
  const calendar = calendarHold(q, Date.now()) ?? undefined;
  if (q.running) {
    const status = await client.workflow.getHandle(deploymentWorkflowId(environment), undefined, { firstExecutionRunId: q.running.runId }).query(statusQuery).catch(() => undefined);
    const own = await runningHold(client, q, status);
    const then = calendar && next?.kind !== 'rollback' ? { then: [calendar.what] } : {};
    if (own) return { environment, ...own, ...then };
    const r = q.running;
    return {
      environment,
      kind: 'running',
      ...nextRequest,
      what: `${r.workflowId} (run ${r.runId}) is ${r.kind === 'rollback' ? 'rolling back to' : 'deploying'} ${r.release}${status ? `, phase ${status.phase}` : ''}, requested by ${r.requesters.join(', ')}${next ? `; ${next.id} ${next.release} is next` : ''}`,
      clears: `it ends (or \`gantry abort ${environment} --as <name> --reason …\`)`,
      ...then,
    };
  }
  if (next && q.hold) return { environment, ...nextRequest, kind: q.hold.kind, what: q.hold.what, clears: q.hold.clears, ...(q.hold.until ? { until: q.hold.until } : {}) };
  if (calendar) return { environment, ...calendar, what: `nothing waits, but a deployment would: ${calendar.what}` };
  return { environment, kind: 'nothing', ...nextRequest, what: next ? `${next.id} ${next.release} is starting` : `nothing holds ${environment}: a deployment starts at once`, clears: 'nothing to clear' };
}
