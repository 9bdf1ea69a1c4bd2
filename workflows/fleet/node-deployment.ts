// One node's deployment as a child workflow: the node cycle (lib/rollout/node-cycle.ts) with its
// load-balancer and health steps as local activities and activation on the node's agent.
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { nodeCycle, type NodeStep } from '../../lib/rollout/node-cycle';
import { describeFailure, innermost } from '../common/failures';
import { nodeCycleSteps } from '../common/node-steps';
import { nodeSteps } from '../common/proxies';
import type { NodeDeployInput, NodeDeployResult } from './types';

export async function nodeDeployment(input: NodeDeployInput): Promise<NodeDeployResult> {
  let step: NodeStep = 'drain';
  try {
    const { release, lb, healthAttempts } = await nodeCycle(nodeCycleSteps(input, nodeSteps(input.loadBalancer, input.healthCheck)), input.release, { at: (name) => (step = name) });
    return { id: input.node.id, release, lb, healthAttempts };
  } catch (err) {
    // Local activities' failures do not name their activity; the result's cause must say which step failed.
    if (isCancellation(err)) throw err;
    const inner = innermost(err);
    throw ApplicationFailure.create({
      message: describeFailure(err),
      type: inner instanceof ApplicationFailure ? (inner.type ?? undefined) : undefined,
      nonRetryable: true,
      details: [{ step }],
      cause: err instanceof Error ? err : undefined,
    });
  }
}
