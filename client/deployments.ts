// Starting a deployment and waiting for its outcome, for every client: the CLI, the webhook, the
// bench and the tests. A retried request (same release, same requester) attaches to the deployment
// it already started; any other request while one runs is refused, naming the running one.
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { GantryError } from '../lib/core/errors';
import { sleep } from '../lib/core/wait';
import { DEFAULT_SHAPE } from '../lib/rollout/batches';
import { describeWaiting, waitingSteps, type WaitingStep } from './waiting-steps';
import {
  deploymentWorkflowId,
  searchAttributes,
  statusQuery,
  type DeployInput,
  type DeployOutcomeStatus,
  type DeployResult,
  type DeployStatus,
  type FailureCause,
  type MigrationRecord,
  type PoolStatus,
  type UndoFailure,
} from '../workflows/api';

type DeploymentWorkflow = (input: DeployInput) => Promise<DeployResult>;
export type DeploymentHandle = WorkflowHandleWithFirstExecutionRunId<DeploymentWorkflow>;

/** Another deployment holds the environment. */
export class DeploymentRunning extends GantryError {
  override readonly name = 'DeploymentRunning';
}

export interface DeployRequest {
  input: DeployInput;
  taskQueue: string;
}

export interface DeployOutcome {
  workflowId: string;
  runId: string;
  status: 'started' | DeployOutcomeStatus;
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
}

export async function startOrAttach(client: Client, { input: request, taskQueue }: DeployRequest): Promise<DeploymentHandle> {
  // The shape of today's code travels in the input, so a later default never changes this run on replay.
  const input: DeployInput = { ...request, shape: request.shape ?? { ...DEFAULT_SHAPE } };
  const { environment, requestedBy, release: tag } = input;
  const workflowId = deploymentWorkflowId(environment);
  try {
    return await client.workflow.start<DeploymentWorkflow>('deployment', {
      workflowId,
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `${input.kind === 'rollback' ? 'Roll back' : 'Deploy'} ${tag} to ${environment}, requested by ${requestedBy}`,
      staticDetails: [
        `**${tag}** → **${environment}** (nodes and policy from the orchestrator's definition; see current details)`,
        `requested by ${requestedBy}${input.commit ? `, commit ${input.commit}` : ''}`,
        input.artifactSha256 ? `artifact sha256 ${input.artifactSha256.slice(0, 12)}…` : 'no download: every node keeps this release',
      ].join('\n\n'),
      // What was asked, so a retry attaches only to the very same request (encrypted like every payload).
      memo: { request: requestKey(input) },
      typedSearchAttributes: [
        { key: searchAttributes.environment, value: environment },
        { key: searchAttributes.release, value: tag },
        { key: searchAttributes.phase, value: 'verify' },
        { key: searchAttributes.requestedBy, value: requestedBy },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw namespaceProblem(client, err) ?? err;
    const running = await client.workflow.getHandle(workflowId).describe().catch(() => undefined);
    const release = running?.typedSearchAttributes.get(searchAttributes.release);
    // A retried request (CI re-running its step) attaches to the deployment it already started, and
    // only when release, commit, artifact and kind are all the same (runs from before the memo: release and requester).
    if (running && release === tag && running.typedSearchAttributes.get(searchAttributes.requestedBy) === requestedBy) {
      const asked = running.memo?.request as RequestKey | undefined;
      const differs = asked ? requestDifference(asked, requestKey(input)) : undefined;
      if (differs) {
        throw new DeploymentRunning(`${workflowId} run ${running.runId} is deploying ${tag} with ${differs}; a retry attaches only to the same release, commit and artifact: wait for it, or abort it first`);
      }
      const handle = client.workflow.getHandle<DeploymentWorkflow>(workflowId, undefined, { firstExecutionRunId: running.runId });
      return Object.assign(handle, { firstExecutionRunId: running.runId });
    }
    throw new DeploymentRunning(
      `another deployment is running on ${environment}: ${workflowId}${running ? ` (run ${running.runId}` : ''}${release ? `, release ${release}` : ''}${running ? ')' : ''}; wait for it to finish first`,
    );
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

interface RequestKey {
  release: string;
  commit: string | null;
  artifactSha256: string | null;
  kind: 'deploy' | 'rollback';
}

const requestKey = (input: DeployInput): RequestKey => ({ release: input.release, commit: input.commit ?? null, artifactSha256: input.artifactSha256 ?? null, kind: input.kind ?? 'deploy' });

/** "artifact sha256 aaa…, not bbb…" for the first field that differs, or undefined. */
function requestDifference(running: RequestKey, asked: RequestKey): string | undefined {
  if (running.kind !== asked.kind) return `kind ${running.kind}, not ${asked.kind}`;
  if (running.commit !== asked.commit) return `commit ${running.commit ?? '(any)'}, not ${asked.commit ?? '(any)'}`;
  if (running.artifactSha256 !== asked.artifactSha256) return `artifact sha256 ${running.artifactSha256 ?? '(none)'}, not ${asked.artifactSha256 ?? '(none)'}`;
  return undefined;
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
