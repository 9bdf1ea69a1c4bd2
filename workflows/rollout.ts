// Rolling out in batches; each node is a child workflow. Records which nodes changed, so
// compensation knows what to undo, and what failed first, so the result can say why.
import { isCancellation } from '@temporalio/workflow';
import type { Environment, NodeConfig } from '../lib/environment-schema';
import { nodeWorkflowId, type DeployInput } from './api';
import type { DeploymentState } from './deployment-state';
import { describeFailure, failedStep } from './failures';
import { runNodeChild } from './node-child';

export function batchesOf(env: Environment): NodeConfig[][] {
  const { batchSize } = env.rollout;
  const size = typeof batchSize === 'number' ? batchSize : Math.max(1, Math.ceil((env.nodes.length * parseInt(batchSize, 10)) / 100));
  const batches: NodeConfig[][] = [];
  for (let i = 0; i < env.nodes.length; i += size) batches.push(env.nodes.slice(i, i + size));
  return batches;
}

/** Runs a batch's node children and waits for all of them to settle, so none is left mid-step. */
export async function rollOutBatch(input: DeployInput, batch: NodeConfig[], state: DeploymentState, changed: NodeConfig[]): Promise<void> {
  const env = input.environment;
  const outcomes = await Promise.allSettled(
    batch.map(async (node) => {
      const entry = state.node(node.id);
      entry.state = 'deploying';
      changed.push(node);
      state.record(`${node.id}: deploying ${input.release}`);
      try {
        const result = await runNodeChild(env, node, nodeWorkflowId(env.name, node.id), input.release, input.artifact);
        Object.assign(entry, { release: result.release, lb: result.lb, state: 'live' });
        state.record(`${node.id}: live on ${input.release} (healthy after ${result.healthAttempts} probes)`);
      } catch (err) {
        const error = describeFailure(err);
        Object.assign(entry, { state: 'failed', error, lb: 'unknown' });
        if (!isCancellation(err) && !state.cause) {
          const step = failedStep(err);
          state.cause = { node: node.id, ...(step ? { step } : {}), error };
        }
        state.record(`${node.id}: ${isCancellation(err) ? 'stopped' : 'failed'}: ${error}`);
        throw err;
      }
    }),
  );
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}
