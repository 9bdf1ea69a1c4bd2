// The deployment of one release to one environment:
// verify → notify → preflight → stage → migrate → [approval] → roll out in batches → live.
// Any failure after a node changed, an abort, or a cancel rolls every changed node back.
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  makeContinueAsNewFunc,
  ContinueAsNew,
  isCancellation,
  sleep,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { formatDuration } from '../lib/duration';
import { describeIssues, environmentSchema, isSha256, isValidReleaseId, type NodeConfig } from '../lib/environment-schema';
import { failureTypes, type DeployInput, type DeployOutcomeStatus, type DeployResult, type ResumePoint } from './api';
import { compensate } from './compensation';
import { downtimeRollout } from './downtime';
import { backupAndExpand, compatibilityGate, contract, COMPATIBILITY_CHECK_FAILED, undoMigration } from './migrations';
import { DeploymentState } from './deployment-state';
import { describeFailure } from './failures';
import { Notices } from './notices';
import { handleOperatorMessages } from './operator-messages';
import { preflight, requireKept } from './preflight';
import { acrossFleet } from './node-group';
import { artifactCheck, ciChecks, verification } from './proxies';
import { batchesOf, rollOutBatch } from './rollout';

const APPROVAL_TIMED_OUT = 'ApprovalTimedOut';

export async function deployment(rawInput: DeployInput): Promise<DeployResult> {
  const input = validate(rawInput);
  const state = new DeploymentState(input);
  const forward = new CancellationScope();
  handleOperatorMessages(state, () => forward.cancel());
  const notices = new Notices(input.environment, state);
  const byId = new Map(input.environment.nodes.map((n) => [n.id, n]));
  const changed: NodeConfig[] = (input.resume?.changed ?? []).map((id) => byId.get(id)!);

  try {
    await forward.run(async () => {
      if (!input.resume) await prepare(input, state, notices);
      await rollOut(input, state, notices, changed);
    });
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err;
    return CancellationScope.nonCancellable(() => finishAfterFailure(input, state, notices, changed, err));
  }
  state.enter('live');
  notices.send('succeeded');
  await notices.settle();
  return state.result('live');
}

/** Everything before the first batch: verify, preflight, stage, migrate, approval. */
async function prepare(input: DeployInput, state: DeploymentState, notices: Notices): Promise<void> {
  const env = input.environment;
  notices.send('requested');
  state.enter('verify');
  const tag = await verification.verifyTag({ source: env.source, tag: input.release, ...(input.commit ? { commit: input.commit } : {}) });
  state.commit = tag.commit;
  state.record(`tag ${input.release} is commit ${tag.commit}${tag.signed ? `, ${tag.signature}` : ''}`);
  if (env.ci.provider !== 'none') {
    const { checks } = await ciChecks(env.ci).waitForChecks({ ci: env.ci, commit: tag.commit });
    state.record(`CI checks passed: ${checks.join(', ') || '(none reported)'}`);
  }
  if (input.artifact) {
    const { bytes } = await artifactCheck.verifyArtifact(input.artifact);
    state.record(`artifact sha256 verified (${bytes} bytes)`);
  }

  state.enter('preflight');
  await preflight(env, state);

  state.enter('stage');
  // The change list (git, on the orchestrator) is read while the nodes download.
  const changes = recordChanges(input, state);
  if (input.artifact) {
    await acrossFleet(env, { op: 'stage', release: input.release, artifact: input.artifact });
    state.record(`release ${input.release} staged on ${env.nodes.length} nodes`);
  } else {
    await requireKept(env, input.release);
    state.record(`release ${input.release} is still kept on every node; nothing to download`);
  }
  await changes;
  notices.send('started');

  if (env.migrations && env.migrations.mode !== 'downtime') {
    state.enter('migrate');
    await backupAndExpand(input, state);
    await compatibilityGate(env, state);
  }
  if (env.approval?.required && env.approval.at === 'before-rollout') await awaitApproval(state, notices);
}

/** The batches from where this run starts, then the contract step. Continues as new when the history grows long. */
async function rollOut(input: DeployInput, state: DeploymentState, notices: Notices, changed: NodeConfig[]): Promise<void> {
  const env = input.environment;
  if (env.migrations?.mode === 'downtime') {
    await downtimeRollout(input, state, changed);
    notices.send('batch-done', { batch: 1 });
  } else {
    const batches = batchesOf(env);
    for (let index = input.resume?.nextBatch ?? 0; index < batches.length; index++) {
      const batch = batches[index]!;
      if (index > 0 && workflowInfo().continueAsNewSuggested) await continueFrom(input, state, notices, changed, index);
      if (index === 0 || input.resume?.nextBatch === index) state.enter('rollout');
      if (index === 1 && env.approval?.required && env.approval.at === 'after-first-batch') {
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
      await rollOutBatch(input, batch, index, state, changed);
      state.record(`batch ${index + 1} live: ${batch.length <= 10 ? batch.map((n) => n.id).join(', ') : `${batch.length} nodes`}`);
      notices.send('batch-done', { batch: index + 1 });
    }
  }
  if (env.migrations) await contract(input, state);
}

/**
 * Carries the deployment into a fresh run before batch `nextBatch`: the server suggests it once a
 * history grows long. Operator messages already accepted and notifications under way finish first.
 */
async function continueFrom(input: DeployInput, state: DeploymentState, notices: Notices, changed: NodeConfig[], nextBatch: number): Promise<never> {
  await notices.settle();
  await condition(allHandlersFinished);
  state.record(`continuing as a new run before batch ${nextBatch + 1} (history ${workflowInfo().historyLength} events)`);
  const resume: ResumePoint = { nextBatch, changed: changed.map((n) => n.id), state: state.snapshot() };
  const info = workflowInfo();
  // Search attributes and memo carry over, so the next run is found and read like this one.
  return makeContinueAsNewFunc<typeof deployment>({ typedSearchAttributes: info.typedSearchAttributes.getAll(), ...(info.memo ? { memo: info.memo } : {}) })({ ...input, resume });
}

/** The commits between the release the fleet runs now and the new tag: status, memo and notices. */
async function recordChanges(input: DeployInput, state: DeploymentState): Promise<void> {
  const running = state.nodes.map((n) => n.previousRelease).filter((r): r is string => r !== null);
  const from = mostCommon(running);
  if (from === input.release) return;
  const changes = await verification.listChanges({ remote: input.environment.source.remote, from, to: input.release });
  state.changes = changes;
  upsertMemo({ changes });
  state.record(`${changes.total} change(s) since ${changes.from ?? 'the beginning'}`);
}

function mostCommon(values: string[]): string | null {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}

async function awaitApproval(state: DeploymentState, notices: Notices): Promise<void> {
  const policy = state.input.environment.approval!;
  state.enter('awaiting-approval');
  notices.send('awaiting-approval', { approvers: policy.approvers, minApprovals: policy.minApprovals });
  const approved = await condition(() => state.approvals.length >= policy.minApprovals, policy.timeout);
  if (!approved) {
    notices.send('approval-timed-out');
    throw ApplicationFailure.nonRetryable(
      `approval timed out after ${formatDuration(policy.timeout)} with ${state.approvals.length} of ${policy.minApprovals} approvals`,
      APPROVAL_TIMED_OUT,
    );
  }
  state.record(`approved by ${state.approvals.map((a) => a.by).join(', ')}`);
  notices.send('approved', { approvals: state.approvals });
}

/** Rolls back what changed, then ends as aborted, rolled-back or failed, saying why. */
async function finishAfterFailure(
  input: DeployInput,
  state: DeploymentState,
  notices: Notices,
  changed: NodeConfig[],
  err: unknown,
): Promise<never> {
  const env = input.environment;
  const cancelledFromOutside = isCancellation(err) && state.abortRequest === null;
  const timedOut = err instanceof ApplicationFailure && err.type === APPROVAL_TIMED_OUT;
  const aborted = state.abortRequest !== null || cancelledFromOutside || timedOut;
  const reason = state.abortRequest
    ? `aborted by ${state.abortRequest.by}: ${state.abortRequest.reason}`
    : cancelledFromOutside
      ? 'the workflow was cancelled'
      : describeFailure(err);
  state.record(aborted ? reason : `failed: ${reason}`);

  if (changed.length > 0) await compensate(env, state, changed);
  await undoMigration(input, state, err instanceof ApplicationFailure && err.type === COMPATIBILITY_CHECK_FAILED);
  const undoNote = state.undoFailures.length > 0 ? `; rollback incomplete on ${state.undoFailures.map((u) => u.node).join(', ')}` : '';
  const undidSomething = changed.length > 0 || (state.migration.undone !== undefined && state.migration.undone !== 'kept');
  const status: DeployOutcomeStatus = aborted ? 'aborted' : undidSomething && state.undoFailures.length === 0 ? 'rolled-back' : 'failed';
  state.enter(status);
  notices.send(status, { reason: reason + undoNote, ...(state.cause ? { cause: state.cause } : {}) });
  await notices.settle();

  // A cancel from Temporal stays a cancellation, so the run shows as Canceled; the status query has the rest.
  if (cancelledFromOutside) throw err;
  const type = { aborted: failureTypes.deploymentAborted, 'rolled-back': failureTypes.deploymentRolledBack, failed: failureTypes.deploymentFailed }[status];
  throw ApplicationFailure.create({
    type,
    message: `deployment of ${input.release} to ${env.name} ${status}: ${reason}${undoNote}`,
    nonRetryable: true,
    details: [state.result(status, reason + undoNote)],
    cause: err instanceof Error && !isCancellation(err) ? err : undefined,
  });
}

function validate(input: DeployInput): DeployInput {
  const parsed = environmentSchema.safeParse(input?.environment);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`invalid environment:\n${describeIssues(parsed.error)}`, failureTypes.invalidInput);
  }
  if (!isValidReleaseId(input.release ?? '')) {
    throw ApplicationFailure.nonRetryable(`invalid release "${input.release}": use letters, digits, ".", "_" or "-"`, failureTypes.invalidInput);
  }
  if (input.artifact !== undefined && !isSha256(input.artifact.sha256 ?? '')) {
    throw ApplicationFailure.nonRetryable('artifact.sha256 must be 64 lowercase hex digits', failureTypes.invalidInput);
  }
  if (input.commit !== undefined && !/^[0-9a-f]{7,40}$/.test(input.commit)) {
    throw ApplicationFailure.nonRetryable(`commit "${input.commit}" must be 7 to 40 lowercase hex digits`, failureTypes.invalidInput);
  }
  if (input.artifact === undefined && input.kind !== 'rollback') {
    throw ApplicationFailure.nonRetryable('artifact is required unless kind is "rollback"', failureTypes.invalidInput);
  }
  if (typeof input.requestedBy !== 'string' || input.requestedBy.trim() === '') {
    throw ApplicationFailure.nonRetryable('requestedBy is required: who asks for this deployment', failureTypes.invalidInput);
  }
  return { ...input, environment: parsed.data };
}
