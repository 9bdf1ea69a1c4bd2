// `gantry status <env>`: the environment's latest deployment. Its `status` query has everything, but
// only an orchestrator worker answers queries; when none does within a couple of seconds, a finished
// deployment is shown from the result recorded in its history and a running one from what the server
// keeps (phase, release, requester in its search attributes), saying so.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { recordedResult } from '../../client/deployments';
import { describeWaiting, waitingSteps, type WaitingStep } from '../../client/waiting-steps';
import { deploymentWorkflowId, searchAttributes, statusQuery, type DeployResult, type DeployStatus } from '../../workflows/api';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';
import { formatStatus } from '../format';
import { describeQueue } from '../format-queue';
import { readQueue } from '../../client/queue';
import type { QueueStatus } from '../../workflows/api';

const QUERY_PATIENCE_MS = 2_000;

export type StatusView =
  | { source: 'query'; status: DeployStatus; waiting: WaitingStep[]; execution: string }
  | { source: 'recorded'; result: DeployResult }
  | { source: 'server'; running: RunningSummary; waiting: WaitingStep[] };

export interface RunningSummary {
  workflowId: string;
  runId: string;
  status: string;
  startTime: string;
  phase: string | null;
  release: string | null;
  requestedBy: string | null;
}

export async function latestStatusView(client: Client, environment: string): Promise<StatusView> {
  const workflowId = deploymentWorkflowId(environment);
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) throw new CliExit(`no deployment of ${environment} yet (${workflowId})`, ExitCode.rejected);
    throw err;
  });
  let timer: NodeJS.Timeout | undefined;
  const patience = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), QUERY_PATIENCE_MS)));
  // Retries in flight come from the server (the workflow cannot see them), asked while the query waits.
  const running = description.status.name === 'RUNNING';
  const retries = running ? waitingSteps(client.workflow, workflowId, description.runId).catch(() => []) : Promise.resolve([]);
  const answered = await Promise.race([handle.query(statusQuery).catch(() => undefined), patience]);
  clearTimeout(timer);
  if (answered) return { source: 'query', status: answered, waiting: await retries, execution: description.status.name };
  if (description.status.name !== 'RUNNING') {
    const result = await recordedResult(client, workflowId, description.runId);
    if (result) return { source: 'recorded', result };
  }
  const attribute = (key: (typeof searchAttributes)[keyof typeof searchAttributes]) => description.typedSearchAttributes.get(key) ?? null;
  return {
    source: 'server',
    running: {
      workflowId,
      runId: description.runId,
      status: description.status.name,
      startTime: description.startTime.toISOString(),
      phase: attribute(searchAttributes.phase),
      release: attribute(searchAttributes.release),
      requestedBy: attribute(searchAttributes.requestedBy),
    },
    waiting: await retries,
  };
}

/** How a run ends when its own code did not end it: no compensation ran. */
const ENDED_WITHOUT_RESULT = ['TERMINATED', 'TIMED_OUT'];

/** A run that ended without a result (terminated, timed out, a workflow bug) ran no compensation: say what puts the fleet right. */
export function repairHint(environment: string, status: string): string {
  return `the run ended ${status.toLowerCase().replace(/_/g, ' ')} without a result, so no compensation ran: nodes may be drained or half-deployed; run \`gantry repair ${environment}\` to read the fleet and bring it to one release`;
}

/** The queue's status, if a worker answers within the patience (no queue yet: undefined). */
async function queueView(client: Client, environment: string): Promise<QueueStatus | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const patience = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), QUERY_PATIENCE_MS)));
  const answered = await Promise.race([readQueue(client, environment).catch(() => undefined), patience]);
  clearTimeout(timer);
  return answered;
}

export async function statusCommand(environment: string, options: { json?: boolean }): Promise<number> {
  requireEnvironmentName(environment);
  const { client, close } = await connectClient();
  try {
    const [found, queue] = await Promise.all([latestStatusView(client, environment).catch((err: unknown) => err as Error), queueView(client, environment)]);
    if (found instanceof Error) {
      // Requests may wait in the queue before any deployment ran (held by a lock, say).
      if (!(found instanceof CliExit) || !queue) throw found;
      if (options.json) console.log(JSON.stringify({ source: 'queue', queue }));
      else console.log(describeQueue(queue).join('\n'));
      return ExitCode.ok;
    }
    const view = found;
    const queued = queue ? { queue } : {};
    if (options.json) {
      console.log(
        JSON.stringify(
          view.source === 'query'
            ? { ...view.status, waiting: view.waiting, source: 'query', ...queued, ...(ENDED_WITHOUT_RESULT.includes(view.execution) ? { hint: repairHint(environment, view.execution) } : {}) }
            : view.source === 'recorded'
              ? { ...view.result, source: 'recorded', ...queued }
              : { ...view.running, waiting: view.waiting, source: 'server', ...queued, ...(ENDED_WITHOUT_RESULT.includes(view.running.status) ? { hint: repairHint(environment, view.running.status) } : {}) },
        ),
      );
      return ExitCode.ok;
    }
    if (view.source === 'query') console.log(formatStatus(view.status));
    else if (view.source === 'recorded') {
      console.log(`(no orchestrator worker answered within ${QUERY_PATIENCE_MS / 1000} s: the result recorded when the run ended; events need a worker)`);
      console.log(formatStatus({ ...view.result, events: [] }));
      console.log(`ended ${view.result.status}${view.result.error ? `: ${view.result.error}` : ''}`);
    } else {
      const r = view.running;
      if (r.status === 'RUNNING') console.log(`(no orchestrator worker answered within ${QUERY_PATIENCE_MS / 1000} s: what the server records; start a worker for nodes and events)`);
      console.log(`${r.workflowId}  ${r.release ?? '?'}  requested by ${r.requestedBy ?? '?'}\n${r.status.toLowerCase()} since ${r.startTime}, phase ${r.phase ?? 'unknown'}  (run ${r.runId})`);
    }
    if (view.source !== 'recorded') for (const step of view.waiting) console.log(`retrying ${describeWaiting(step)}`);
    const execution = view.source === 'query' ? view.execution : view.source === 'server' ? view.running.status : 'COMPLETED';
    if (ENDED_WITHOUT_RESULT.includes(execution)) console.log(repairHint(environment, execution));
    if (queue) console.log(describeQueue(queue).join('\n'));
    return ExitCode.ok;
  } finally {
    await close();
  }
}
