// Rolling out in batches; each batch runs its nodes' children, inline or as a child workflow. The
// state records which nodes changed, so compensation knows what to undo, and what failed first.
import { ApplicationFailure, executeChild, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { NodeConfig } from '../../lib/config/environment-schema';
import { failureTypes } from '../../lib/core/failure-types';
import { concurrencyOf, type DeploymentShape } from '../../lib/rollout/batches';
import { batchWorkflowId, fleetTaskQueue } from '../api';
import { describeFailure } from '../common/failures';
import { batchDeployment } from '../fleet/batch';
import type { BatchInput, NodeOutcome } from '../fleet/types';
import type { DeploymentState, WorkflowInput } from './state';

/**
 * A batch of up to `shape.inlineBatch` nodes runs its node children from this workflow (one level less
 * on the critical path); a bigger one is a child workflow, so this history grows by a few events per batch.
 */
export function runBatch(environment: string, n: number, input: BatchInput, shape: DeploymentShape): Promise<NodeOutcome[]> {
  if (input.environment.nodes.length <= shape.inlineBatch) return batchDeployment(input);
  return executeChild(batchDeployment, { workflowId: batchWorkflowId(environment, input.mode, n), taskQueue: fleetTaskQueue(workflowInfo().taskQueue), args: [input] });
}

/** Runs batch `index`; throws after recording the first failure when a node failed. */
export async function rollOutBatch(input: WorkflowInput, batch: NodeConfig[], index: number, state: DeploymentState, rehearsal?: string): Promise<void> {
  const env = input.environment;
  state.nodesStarting(batch.map((n) => n.id));
  state.record(batch.length === 1 ? `${batch[0]!.id}: deploying ${input.release}` : `batch ${index + 1}: deploying ${input.release} to ${batch.length} nodes`);
  let outcomes: NodeOutcome[];
  try {
    const held = state.heldInMaint().filter((id) => batch.some((n) => n.id === id));
    const batchInput: BatchInput = {
      environment: { ...env, nodes: batch },
      mode: 'rollout',
      release: input.release,
      concurrency: concurrencyOf(env, batch.length),
      ...(held.length > 0 ? { leaveInMaint: held } : {}),
      ...(rehearsal ? { rehearsal } : {}),
    };
    outcomes = await runBatch(env.name, index + 1, batchInput, input.shape);
  } catch (err) {
    // Cancelled (an abort), or the batch itself failed: where each node stands is for compensation to settle.
    const error = describeFailure(err);
    for (const node of batch) state.nodeFailed(node.id, error);
    state.record(`batch ${index + 1} ${isCancellation(err) ? 'stopped' : 'failed'}: ${error}`);
    throw err;
  }
  let firstFailure: Extract<NodeOutcome, { ok: false }> | undefined;
  for (const outcome of outcomes) {
    if (outcome.ok) {
      state.nodeLive(outcome.id, outcome.release, outcome.lb, `live on ${input.release} (healthy after ${outcome.healthAttempts} probes)`);
      for (const note of outcome.notes ?? []) state.record(`${outcome.id}: ${note}`);
    } else if (!outcome.started) {
      state.nodeUntouched(outcome.id);
    } else {
      state.nodeFailed(outcome.id, outcome.error);
      state.record(`${outcome.id}: ${outcome.cancelled ? 'stopped' : 'failed'}: ${outcome.error}`);
      if (!outcome.cancelled && !firstFailure) firstFailure = outcome;
    }
  }
  if (firstFailure) {
    state.failedBecause({ node: firstFailure.id, ...(firstFailure.step ? { step: firstFailure.step } : {}), error: firstFailure.error });
    throw ApplicationFailure.nonRetryable(firstFailure.error, failureTypes.nodeFailed);
  }
}
