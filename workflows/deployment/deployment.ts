// The deployment of one release to one environment:
// verify → notify → preflight → stage → migrate → [approval] → roll out in batches → live.
// Any failure after a node changed, an abort, or a cancel rolls every changed node back.
import { CancellationScope, ContinueAsNew, allHandlersFinished, condition, isCancellation, makeContinueAsNewFunc, patched, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { describeFailure } from '../common/failures';
import { formatDuration } from '../../lib/config/duration';
import { batchesOf } from '../../lib/rollout/batches';
import { statusQuery, type DeployInput, type DeployResult, type DeployStatus } from '../api';
import { awaitApproval } from './approval';
import { blueGreenOf, blueGreenRollout } from './blue-green';
import { downtimeRollout } from './downtime';
import { finishAfterFailure } from './finish';
import { trustedInput } from './input';
import { contract } from './migrations';
import { readBack } from './read-back';
import { Notices } from './notices';
import { handleOperatorMessages } from './operator-messages';
import { approvalWanted, prepare } from './prepare';
import { rollOutBatch } from './rollout';
import { DeploymentState, type WorkflowInput } from './state';

export async function deployment(request: DeployInput): Promise<DeployResult> {
  // Answer `status` while the definition is read (a client asks right after starting); the state's own handler replaces it.
  setHandler(statusQuery, () => readingDefinition(request));
  // Read and checked once, here: a later change of the definition or the schema cannot change what a running deployment does.
  const input = await trustedInput(request);
  const state = new DeploymentState(input);
  const forward = new CancellationScope();
  handleOperatorMessages(state, () => forward.cancel());
  const notices = new Notices(input.environment, state);

  // What the rollout works from: for a rollback on a sick fleet, the nodes it could reach.
  let working = input;
  try {
    await forward.run(async () => {
      if (!input.resume) await prepare(input, state, notices, (narrowed) => (working = narrowed));
      await rollOut(working, state, notices);
    });
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    return CancellationScope.nonCancellable(() => finishAfterFailure(working, state, notices, err));
  }
  if (state.unreachable.length > 0) {
    state.record(`rolled back every node it reached; not reached: ${state.unreachable.join(', ')} — run gantry rollback again once their agents answer`);
  }
  await readBack(working, state);
  state.enter('live');
  const contractFailed = state.migration.contractFailed;
  notices.send('succeeded', contractFailed ? { reason: `live, but the contract migration failed (nothing rolled back): ${contractFailed}` } : {});
  await notices.settle();
  return state.result('live');
}

/** The batches from where this run starts, then the contract step. Continues as new when the history grows long. */
async function rollOut(input: WorkflowInput, state: DeploymentState, notices: Notices): Promise<void> {
  const env = input.environment;
  if (blueGreenOf(env)) return blueGreenRollout(input, state, notices);
  // A repair changes nodes one by one, whatever the migration mode: it runs no migration.
  if (env.migrations?.mode === 'downtime' && !input.repair) {
    await downtimeRollout(input, state);
    notices.send('batch-done', { batch: 1 });
  } else {
    const batches = batchesOf(env);
    for (let index = input.resume?.nextBatch ?? 0; index < batches.length; index++) {
      const batch = batches[index]!;
      if (index > 0 && workflowInfo().continueAsNewSuggested) await continueFrom(input, state, notices, index);
      if (index === 0 || input.resume?.nextBatch === index) state.enter('rollout');
      if (index === 1 && approvalWanted(input) && env.approval!.at === 'after-first-batch') {
        await awaitApproval(state, notices);
        state.enter('rollout');
      }
      if (index > 0 && env.rollout.pauseBetweenBatches) {
        state.record(`pausing ${formatDuration(env.rollout.pauseBetweenBatches)} before batch ${index + 1}`);
        await sleep(env.rollout.pauseBetweenBatches);
      }
      if (state.pausedBy !== null) {
        state.record(`holding batch ${index + 1} until resumed`);
        await condition(() => state.pausedBy === null);
      }
      await rollOutBatch(input, batch, index, state);
      state.record(`batch ${index + 1} live: ${batch.length <= 10 ? batch.map((n) => n.id).join(', ') : `${batch.length} nodes`}`);
      notices.send('batch-done', { batch: index + 1 });
    }
  }
  if (env.migrations && !input.repair) {
    if (!patched(CONTRACT_FAILURE_KEEPS_FLEET)) return contract(input, state);
    try {
      await contract(input, state);
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Every node is live and healthy; the schema may be half contracted, which the old release cannot run on: report, do not roll back.
      const error = describeFailure(err);
      state.contractFailed(
        error,
        `contract migrations failed: ${error} — every node stays on ${input.release} (healthy); nothing is rolled back, since the old release may not run on a partly contracted schema. Fix the contract migration; the next deployment runs it again`,
      );
    }
  }
}

/** Marks runs where a failed contract step ends the deployment live, reported, instead of rolling back. */
const CONTRACT_FAILURE_KEEPS_FLEET = 'contract-failure-keeps-fleet';

/**
 * Carries the deployment into a fresh run before batch `nextBatch`: the server suggests it once a
 * history grows long. Operator messages already accepted and notifications under way finish first.
 */
async function continueFrom(input: WorkflowInput, state: DeploymentState, notices: Notices, nextBatch: number): Promise<never> {
  await notices.settle();
  await condition(allHandlersFinished);
  const info = workflowInfo();
  state.record(`continuing as a new run before batch ${nextBatch + 1} (history ${info.historyLength} events)`);
  // Search attributes and memo carry over, so the next run is found and read like this one.
  const next: WorkflowInput = { ...input, resume: { nextBatch, state: state.snapshot() } };
  return makeContinueAsNewFunc<(i: WorkflowInput) => Promise<DeployResult>>({
    typedSearchAttributes: info.typedSearchAttributes.getAll(),
    ...(info.memo ? { memo: info.memo } : {}),
  })(next);
}

/** The status before the definition is read: the request as it came, nothing decided yet. */
function readingDefinition(request: DeployInput): DeployStatus {
  const info = workflowInfo();
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  return {
    workflowId: info.workflowId,
    runId: info.runId,
    environment: text(request?.environment),
    release: text(request?.release),
    commit: null,
    changes: null,
    requestedBy: text(request?.requestedBy),
    definitionSha256: null,
    artifactSha256: typeof request?.artifactSha256 === 'string' ? request.artifactSha256 : null,
    plan: null,
    phase: 'verify',
    paused: false,
    approvals: [],
    approvalsNeeded: 0,
    approvalsMissing: [],
    signing: { identity: false, approvals: false, control: false },
    nodes: [],
    migration: null,
    events: [{ time: new Date(info.startTime).toISOString(), what: "reading the orchestrator's definition of the environment" }],
  };
}
