// One node's deployment as a child workflow: the node cycle (lib/rollout/node-cycle.ts) with its
// load-balancer and health steps as local activities and activation on the node's agent.
import { ApplicationFailure, isCancellation, patched } from '@temporalio/workflow';
import { nodeCycle, type NodeStep } from '../../lib/rollout/node-cycle';
import { describeFailure, innermost } from '../common/failures';
import { nodeCycleSteps } from '../common/node-steps';
import { nodeSteps } from '../common/proxies';
import type { NodeDeployInput, NodeDeployResult } from './types';

/** Marks node runs that drain once more right before the switch (a load balancer that lost its state is caught). */
const RECHECK_OUT_OF_ROTATION = 'recheck-out-of-rotation';

export async function nodeDeployment(input: NodeDeployInput): Promise<NodeDeployResult> {
  let step: NodeStep = 'drain';
  try {
    const recheckOut = patched(RECHECK_OUT_OF_ROTATION);
    const { release, lb, healthAttempts, notes } = await nodeCycle(nodeCycleSteps(input, nodeSteps(input.loadBalancer, input.healthCheck)), input.release, {
      at: (name) => (step = name),
      recheckOut,
      leaveInMaint: input.leaveInMaint === true,
    });
    return { id: input.node.id, release, lb, healthAttempts, ...(notes.length > 0 ? { notes } : {}) };
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
