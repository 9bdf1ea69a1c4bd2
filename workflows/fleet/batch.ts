// One batch as one child workflow: its nodes' children live in this history, not the deployment's,
// so the deployment's history grows by a few events per batch whatever the batch size. At most
// `concurrency` nodes change at once; after a failure no further node of the batch is started.
import { CancellationScope, CancelledFailure, isCancellation } from '@temporalio/workflow';
import { nodeRollbackWorkflowId, nodeWorkflowId } from '../api';
import type { BatchInput, NodeOutcome } from './types';
import { describeFailure, failedStep } from '../common/failures';
import { inLanes } from '../../lib/rollout/lanes';
import { runNodeChild } from './node-child';

export async function batchDeployment(input: BatchInput): Promise<NodeOutcome[]> {
  const env = input.environment;
  const outcomes: NodeOutcome[] = [];
  let failed = false;
  const undo = input.mode === 'undo';
  await inLanes(env.nodes, input.concurrency, async (node) => {
    // A failed node stops the rest of a rollout batch; an undo tries every node regardless.
    if ((failed && !undo) || CancellationScope.current().consideredCancelled) {
      outcomes.push({ ok: false, id: node.id, error: 'not started: an earlier node of the batch failed', cancelled: true, started: false });
      return;
    }
    const release = undo ? (input.targets?.[node.id] ?? null) : input.release;
    try {
      const id = undo ? nodeRollbackWorkflowId(env.name, node.id) : nodeWorkflowId(env.name, node.id);
      const result = await runNodeChild(env, node, id, release, input.leaveInMaint?.includes(node.id) === true, input.rehearsal);
      outcomes.push({ ok: true, ...result });
    } catch (err) {
      failed = true;
      const step = failedStep(err);
      outcomes.push({ ok: false, id: node.id, error: describeFailure(err), cancelled: isCancellation(err), started: true, ...(step ? { step } : {}) });
    }
  });
  // Cancelled (an abort): every node child has settled; the deployment sees the cancellation and undoes.
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('batch cancelled after its nodes settled');
  const order = new Map(env.nodes.map((n, i) => [n.id, i]));
  return outcomes.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
}
