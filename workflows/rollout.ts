// Rolling out in batches; each batch is a child workflow running its nodes' children. Records which
// nodes changed, so compensation knows what to undo, and what failed first, so the result can say why.
import { ApplicationFailure, executeChild, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { Environment, NodeConfig } from '../lib/environment-schema';
import { batchWorkflowId, failureTypes, fleetTaskQueue, type BatchInput, type DeployInput, type NodeOutcome } from './api';
import { batchDeployment } from './batch';
import type { DeploymentState } from './deployment-state';
import { describeFailure } from './failures';

/** The server refuses more than 2,000 pending children per workflow; stay well below. */
const MAX_CONCURRENT_NODES = 1_000;
const INLINE_BATCH = 5;

/** A count, or a percentage of `total` rounded up (at least 1). */
export function sizeOf(value: number | string, total: number): number {
  return typeof value === 'number' ? value : Math.max(1, Math.ceil((total * parseInt(value, 10)) / 100));
}

export function batchesOf(env: Environment): NodeConfig[][] {
  const size = sizeOf(env.rollout.batchSize, env.nodes.length);
  const batches: NodeConfig[][] = [];
  for (let i = 0; i < env.nodes.length; i += size) batches.push(env.nodes.slice(i, i + size));
  return batches;
}

/** How many of a batch's nodes may be out of rotation at once. */
export function concurrencyOf(env: Environment, batchLength: number): number {
  const limit = env.rollout.maxUnavailable === undefined ? batchLength : sizeOf(env.rollout.maxUnavailable, env.nodes.length);
  return Math.max(1, Math.min(batchLength, limit, MAX_CONCURRENT_NODES));
}

/**
 * A batch of up to INLINE_BATCH nodes runs its node children from this workflow (one level less on
 * the critical path); a bigger one is a child workflow, so this history grows by a few events per batch.
 */
export function runBatch(environment: string, n: number, input: BatchInput): Promise<NodeOutcome[]> {
  if (input.environment.nodes.length <= INLINE_BATCH) return batchDeployment(input);
  return executeChild(batchDeployment, { workflowId: batchWorkflowId(environment, input.mode, n), taskQueue: fleetTaskQueue(workflowInfo().taskQueue), args: [input] });
}

/** Runs batch `index`; throws after recording the first failure when a node failed. */
export async function rollOutBatch(input: DeployInput, batch: NodeConfig[], index: number, state: DeploymentState, changed: NodeConfig[]): Promise<void> {
  const env = input.environment;
  for (const node of batch) {
    state.node(node.id).state = 'deploying';
    changed.push(node);
  }
  state.record(batch.length === 1 ? `${batch[0]!.id}: deploying ${input.release}` : `batch ${index + 1}: deploying ${input.release} to ${batch.length} nodes`);
  let outcomes: NodeOutcome[];
  try {
    outcomes = await runBatch(env.name, index + 1, { environment: { ...env, nodes: batch }, mode: 'rollout', release: input.release, concurrency: concurrencyOf(env, batch.length) });
  } catch (err) {
    // Cancelled (an abort), or the batch itself failed: where each node stands is for compensation to settle.
    const error = describeFailure(err);
    for (const node of batch) Object.assign(state.node(node.id), { state: 'failed', error, lb: 'unknown' });
    state.record(`batch ${index + 1} ${isCancellation(err) ? 'stopped' : 'failed'}: ${error}`);
    throw err;
  }
  let firstFailure: Extract<NodeOutcome, { ok: false }> | undefined;
  for (const outcome of outcomes) {
    const entry = state.node(outcome.id);
    if (outcome.ok) {
      Object.assign(entry, { release: outcome.release, lb: outcome.lb, state: 'live' });
      state.record(`${outcome.id}: live on ${input.release} (healthy after ${outcome.healthAttempts} probes)`);
    } else if (!outcome.started) {
      // Never touched: nothing to undo.
      entry.state = 'pending';
      changed.splice(changed.findIndex((n) => n.id === outcome.id), 1);
    } else {
      Object.assign(entry, { state: 'failed', error: outcome.error, lb: 'unknown' });
      state.record(`${outcome.id}: ${outcome.cancelled ? 'stopped' : 'failed'}: ${outcome.error}`);
      if (!outcome.cancelled && !firstFailure) firstFailure = outcome;
    }
  }
  if (firstFailure) {
    if (!state.cause) state.cause = { node: firstFailure.id, ...(firstFailure.step ? { step: firstFailure.step } : {}), error: firstFailure.error };
    throw ApplicationFailure.nonRetryable(firstFailure.error, failureTypes.nodeFailed);
  }
}
