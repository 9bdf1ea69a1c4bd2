// Undo: every node on the state's undo list goes back to the release recorded in preflight, newest
// first, in batches of the rollout's batch size, through the same node cycle (the old release is
// still on the node, so nothing is downloaded). A node that had no release is drained, its app
// stopped, and left out of rotation. An undo that fails is recorded and the others still run.
import { concurrencyOf, sizeOf, slices } from '../../lib/rollout/batches';
import { describeFailure } from '../common/failures';
import { blueGreenOf, blueGreenUndo } from './blue-green';
import { runBatch } from './rollout';
import type { DeploymentState, WorkflowInput } from './state';

/** Call inside CancellationScope.nonCancellable: an abort or a cancel must not interrupt the undo. */
export async function compensate(input: WorkflowInput, state: DeploymentState): Promise<void> {
  const env = input.environment;
  if (blueGreenOf(env) && state.pools) return blueGreenUndo(input, state);
  state.enter('rolling-back');
  const byId = new Map(env.nodes.map((n) => [n.id, n]));
  const batches = slices(state.undoList().map((id) => byId.get(id)!), sizeOf(env.rollout.batchSize, env.nodes.length));
  for (const [i, batch] of batches.entries()) {
    const targets = Object.fromEntries(batch.map((node) => [node.id, state.node(node.id).previousRelease]));
    for (const node of batch) state.record(`${node.id}: rolling back to ${targets[node.id] ?? '(no release: taken out of rotation)'}`);
    try {
      const held = state.heldInMaint().filter((id) => batch.some((n) => n.id === id));
      const batchInput = { environment: { ...env, nodes: batch }, mode: 'undo' as const, release: '', targets, concurrency: concurrencyOf(env, batch.length), ...(held.length > 0 ? { leaveInMaint: held } : {}) };
      for (const outcome of await runBatch(env.name, i + 1, batchInput, input.shape)) {
        if (outcome.ok) state.nodeRolledBack(outcome.id, outcome.release, outcome.lb);
        else state.undoFailed(outcome.id, outcome.error);
        for (const note of (outcome.ok && outcome.notes) || []) state.record(`${outcome.id}: ${note}`);
      }
    } catch (err) {
      for (const node of batch) state.undoFailed(node.id, describeFailure(err));
    }
  }
}
