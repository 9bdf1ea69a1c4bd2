// Starting a deployment and waiting for its outcome, for every client: the CLI, the webhook, the
// bench and the tests. Every start goes through the environment's queue `queue/<env>` (an update
// with start): the answer says at once whether it started, attached to the very same request (a
// retried CI call), or waits, and behind what; a malformed request or a full queue is refused.
import {
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { GantryError } from '../lib/core/errors';
import { sleep } from '../lib/core/wait';
import { DEFAULT_SHAPE } from '../lib/rollout/batches';
import { queueStart } from './queue';
import { describeWaiting, waitingSteps, type WaitingStep } from './waiting-steps';
import {
  enqueueUpdate,
  queueStatusQuery,
  queueWorkflowId,
  searchAttributes,
  statusQuery,
  type DeployInput,
  type DeployOutcomeStatus,
  type DeployResult,
  type DeployStatus,
  type EnqueueAnswer,
  type FailureCause,
  type MigrationRecord,
  type PoolStatus,
  type UndoFailure,
} from '../workflows/api';

type DeploymentWorkflow = (input: DeployInput) => Promise<DeployResult>;
export type DeploymentHandle = WorkflowHandleWithFirstExecutionRunId<DeploymentWorkflow>;

/** The queue refused the request (malformed, unknown environment, queue full), or it will never start. */
export class RequestRefused extends GantryError {
  override readonly name = 'RequestRefused';
}

export interface DeployRequest {
  input: DeployInput;
  taskQueue: string;
}

export interface DeployOutcome {
  workflowId: string;
  runId: string;
  status: 'started' | 'queued' | DeployOutcomeStatus;
  release: string;
  commit?: string | null;
  /** sha256 of the orchestrator's definition the deployment ran under. */
  definitionSha256?: string | null;
  /** error: what went wrong on the node (e.g. a rollback could not reach it). */
  nodes?: { id: string; release: string | null; lb: string; error?: string }[];
  error?: string;
  cause?: FailureCause;
  undoFailures?: UndoFailure[];
  /** What the migration step did: the backup's path (and its copy off the runner), expand, contract, undo. */
  migration?: MigrationRecord;
  /** Blue-green: which pool users reach, the smoke tests, the switch, the watch, until when the old pool stays warm. */
  pools?: PoolStatus;
  /** How the queue answered: the request's id, its position, what holds it. */
  queue?: EnqueueAnswer;
}

/** Puts the request on the environment's queue (starting the queue if it is not running). */
export async function enqueue(client: Client, { input: request, taskQueue }: DeployRequest): Promise<EnqueueAnswer> {
  // The shape of today's code travels in the input, so a later default never changes this run on replay.
  const input: DeployInput = { ...request, shape: request.shape ?? { ...DEFAULT_SHAPE } };
  const { environment } = input;
  const startWorkflowOperation = queueStart(environment, taskQueue);
  try {
    return await client.workflow.executeUpdateWithStart(enqueueUpdate, { args: [input], startWorkflowOperation });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new RequestRefused(err.cause?.message ?? err.message);
    throw namespaceProblem(client, err) ?? err;
  }
}

/** The handle of the deployment a request started (or attached to). */
export function deploymentHandle(client: Client, deployment: { workflowId: string; runId: string }): DeploymentHandle {
  const handle = client.workflow.getHandle<DeploymentWorkflow>(deployment.workflowId, undefined, { firstExecutionRunId: deployment.runId });
  return Object.assign(handle, { firstExecutionRunId: deployment.runId });
}

/**
 * Enqueues and returns the deployment once it runs: at once when the environment is idle, else when
 * the queue starts it. A request superseded under latest-wins is carried by the one that replaced
 * it, so the wait follows that one; `onQueued` hears each answer while waiting.
 */
export async function startOrAttach(client: Client, request: DeployRequest, onQueued?: (answer: EnqueueAnswer, note?: string) => void): Promise<DeploymentHandle> {
  const answer = await enqueue(client, request);
  if (answer.deployment) return deploymentHandle(client, answer.deployment);
  onQueued?.(answer);
  return awaitStart(client, request.input.environment, answer.id, onQueued);
}

const QUEUE_POLL_MS = 250;

/** Polls the queue until request `id` (or the one carrying it) runs. */
export async function awaitStart(client: Client, environment: string, id: string, onQueued?: (answer: EnqueueAnswer, note?: string) => void): Promise<DeploymentHandle> {
  const queue = client.workflow.getHandle(queueWorkflowId(environment));
  let following = id;
  let unknownPolls = 0;
  for (;;) {
    const status = await queue.query(queueStatusQuery);
    const running = status.running;
    if (running && (running.id === following || running.covers.some((c) => c.id === following))) return deploymentHandle(client, running);
    const replaced = status.superseded.find((s) => s.id === following);
    if (replaced) {
      onQueued?.({ id: following, status: 'queued', position: -1, replaced: [], hold: status.hold }, `${following} was superseded by ${replaced.by.id} (${replaced.by.release}), which carries this request: following it`);
      following = replaced.by.id;
      continue;
    }
    const ended = status.finished.find((f) => f.id === following);
    // It ran and ended between two polls: its run is the answer (awaitOutcome reads its result).
    if (ended?.runId) return deploymentHandle(client, { workflowId: ended.workflowId, runId: ended.runId });
    if (ended) throw new RequestRefused(`${following} (${ended.release}) ended ${ended.status} without running: ${ended.error ?? ''}`);
    const known = status.pending.some((p) => p.id === following || p.covers.some((c) => c.id === following));
    // Taken off the queue and starting (waiting out a run started outside the queue), or no longer in what the queue keeps.
    unknownPolls = known || status.hold?.kind === 'outside' ? 0 : unknownPolls + 1;
    if (unknownPolls > 120) throw new RequestRefused(`${following} is not waiting in ${environment}'s queue and is not among the requests it keeps: see gantry status ${environment}`);
    await sleep(QUEUE_POLL_MS);
  }
}

/** The server refuses a start whose search attributes the namespace does not define: say which, and the fix. */
function namespaceProblem(client: Client, err: unknown): GantryError | undefined {
  // The SDK's ServiceError says "Failed to start Workflow"; the server's reason is in its cause.
  const message = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
  if (!/search attribute/i.test(message) || !/not defined|no mapping|unknown|not found/i.test(message)) return undefined;
  const names = Object.values(searchAttributes).map((key) => key.name);
  return new GantryError(
    `namespace ${client.options.namespace} does not define Gantry's search attributes (${names.join(', ')}): run \`gantry setup-namespace\` once against it (server said: ${message})`,
  );
}

/** A running deployment's status with what it is retrying right now (read from the server, not the workflow). */
export type LiveStatus = DeployStatus & { waiting?: WaitingStep[] };

/** Follows a running deployment until `done` settles, e.g. printing its events or drawing a view. */
export type Follower = (read: () => Promise<LiveStatus | undefined>, done: Promise<unknown>) => Promise<void>;

const WAITING_EVERY_MS = 2_000;

/** Waits for the result; `follow` watches the status meanwhile. */
export async function awaitOutcome(
  handle: WorkflowHandle<DeploymentWorkflow>,
  follow?: Follower,
  runId = (handle as Partial<WorkflowHandleWithFirstExecutionRunId>).firstExecutionRunId ?? '',
): Promise<DeployOutcome> {
  const base = { workflowId: handle.workflowId, runId };
  const result = handle.result().then(
    (r) => ({ ok: true as const, r }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  const query = () => handle.query(statusQuery).catch(() => undefined);
  let waiting: WaitingStep[] = [];
  let waitingAt = 0;
  const read = async (): Promise<LiveStatus | undefined> => {
    const status = await query();
    if (status && Date.now() - waitingAt >= WAITING_EVERY_MS) {
      waitingAt = Date.now();
      waiting = await waitingSteps(handle.client, handle.workflowId).catch(() => waiting);
    }
    return status && { ...status, waiting };
  };
  const following = follow ? follow(read, result) : Promise.resolve();
  const settled = await result;
  await following;
  if (settled.ok) return { ...base, ...summarize(settled.r) };
  const err = settled.err;
  if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure && err.cause.details?.[0]) {
    return { ...base, ...summarize(err.cause.details[0] as DeployResult) };
  }
  if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) {
    // Cancelled through Temporal: the workflow rolled back first; its status query says where nodes stand.
    const status = await query();
    if (status) {
      return {
        ...base,
        status: 'aborted',
        release: status.release,
        commit: status.commit,
        nodes: status.nodes.map(({ id, release, lb }) => ({ id, release, lb })),
        error: 'the workflow was cancelled',
      };
    }
  }
  return { ...base, status: 'failed', release: '', error: err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err) };
}

/** The result a finished run recorded: its return value, or the one its failure carries. */
export async function recordedResult(client: Client, workflowId: string, runId: string): Promise<DeployResult | undefined> {
  try {
    return (await client.workflow.getHandle(workflowId, runId, { followRuns: false }).result()) as DeployResult;
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure && err.cause.details?.[0]) return err.cause.details[0] as DeployResult;
    return undefined;
  }
}

function summarize(r: DeployResult): Omit<DeployOutcome, 'workflowId' | 'runId'> {
  return {
    status: r.status,
    release: r.release,
    commit: r.commit,
    definitionSha256: r.definitionSha256 ?? null,
    nodes: r.nodes.map(({ id, release, lb, error }) => ({ id, release, lb, ...(error ? { error } : {}) })),
    ...(r.error ? { error: r.error } : {}),
    ...(r.cause ? { cause: r.cause } : {}),
    ...(r.undoFailures?.length ? { undoFailures: r.undoFailures } : {}),
    ...(r.migration ? { migration: r.migration } : {}),
    ...(r.pools ? { pools: r.pools } : {}),
  };
}

/** A follower that hands each new event of the log to `print` as one line. */
export function printEvents(print: (line: string) => void): Follower {
  return async (read, done) => {
    let seen = 0;
    const retries = new Set<string>();
    let finished = false;
    void done.then(() => (finished = true));
    for (;;) {
      // Read `finished` before querying so the last poll sees the final events.
      const last = finished;
      const status = await read();
      for (const event of status?.events.slice(seen) ?? []) print(`${event.time.slice(11, 23)}  ${event.what}`);
      seen = status?.events.length ?? seen;
      for (const step of status?.waiting ?? []) {
        const key = `${step.workflowId} ${step.activity} ${step.attempt}`;
        if (!retries.has(key)) print(`${new Date().toISOString().slice(11, 23)}  retrying ${describeWaiting(step)}`);
        retries.add(key);
      }
      if (last) return;
      await Promise.race([sleep(300), done]);
    }
  };
}
