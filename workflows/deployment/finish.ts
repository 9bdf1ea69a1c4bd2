// How a deployment that did not go live ends: roll back what changed (newest first), undo the
// migration as the environment says, then end as aborted, rolled-back or failed, saying why.
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { failureTypes } from '../../lib/core/failure-types';
import type { DeployOutcomeStatus } from '../api';
import { describeFailure } from '../common/failures';
import { blueGreenOf, otherPool, poolEnvironment, targetInput } from './blue-green';
import { compensate } from './compensation';
import { undoMigration } from './migrations';
import { readBack } from './read-back';
import type { Notices } from './notices';
import type { DeploymentState, WorkflowInput } from './state';

const endType = { aborted: failureTypes.deploymentAborted, 'rolled-back': failureTypes.deploymentRolledBack, failed: failureTypes.deploymentFailed } as const;

/** Call inside CancellationScope.nonCancellable: an abort or a cancel must not interrupt the undo. */
export async function finishAfterFailure(input: WorkflowInput, state: DeploymentState, notices: Notices, err: unknown): Promise<never> {
  const env = input.environment;
  const cancelledFromOutside = isCancellation(err) && state.abortRequest === null;
  const timedOut = err instanceof ApplicationFailure && err.type === failureTypes.approvalTimedOut;
  const aborted = state.abortRequest !== null || cancelledFromOutside || timedOut;
  const reason = state.abortRequest
    ? `aborted by ${state.abortRequest.by}: ${state.abortRequest.reason}`
    : cancelledFromOutside
      ? 'the workflow was cancelled'
      : describeFailure(err);
  state.record(aborted ? reason : `failed: ${reason}`);

  const undoList = state.undoList();
  if (undoList.length > 0) await compensate(input, state);
  // Blue-green: the migrations ran on the target pool's first node; the old release runs in the other pool.
  const bg = blueGreenOf(env) && state.pools ? { target: targetInput(input, state), old: poolEnvironment(env, otherPool(state.pools.target)) } : undefined;
  await undoMigration(bg?.target ?? input, state, err instanceof ApplicationFailure && err.type === failureTypes.compatibilityCheckFailed, bg?.old);
  const undoNote = state.undoFailures.length > 0 ? `; rollback incomplete on ${state.undoFailures.map((u) => u.node).join(', ')}` : '';
  const undidSomething = undoList.length > 0 || (state.migration.undone !== undefined && state.migration.undone !== 'kept');
  const status: DeployOutcomeStatus = aborted ? 'aborted' : undidSomething && state.undoFailures.length === 0 ? 'rolled-back' : 'failed';
  // Only once something changed: a run refused in verification or preflight touched nothing worth reading.
  if (undoList.length > 0 || state.served.length > 0) await readBack(input, state);
  state.enter(status);
  notices.send(status, { reason: reason + undoNote, ...(state.cause ? { cause: state.cause } : {}) });
  await notices.settle();

  // A cancel from Temporal stays a cancellation, so the run shows as Canceled; the status query has the rest.
  if (cancelledFromOutside) throw err;
  throw ApplicationFailure.create({
    type: endType[status],
    message: `deployment of ${input.release} to ${env.name} ${status}: ${reason}${undoNote}`,
    nonRetryable: true,
    details: [state.result(status, reason + undoNote)],
    cause: err instanceof Error && !isCancellation(err) ? err : undefined,
  });
}
