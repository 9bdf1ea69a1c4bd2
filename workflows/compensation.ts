// Undo: every node that changed goes back to the release recorded in preflight, newest batch first,
// as batch children of the rollout's batch size, through the same drain → activate → health → enable
// cycle (the old release is still on the node, so nothing is downloaded). A node that had no release
// is drained, its app stopped, and left out of rotation. An undo that fails is recorded and the
// others still run.
import type { Environment, NodeConfig } from '../lib/environment-schema';
import type { DeploymentState } from './deployment-state';
import { describeFailure } from './failures';
import { concurrencyOf, runBatch, sizeOf } from './rollout';

/** Call inside CancellationScope.nonCancellable: an abort or a cancel must not interrupt the undo. */
export async function compensate(env: Environment, state: DeploymentState, changed: NodeConfig[]): Promise<void> {
  state.enter('rolling-back');
  const newestFirst = [...changed].reverse();
  const size = sizeOf(env.rollout.batchSize, env.nodes.length);
  for (let i = 0, n = 1; i < newestFirst.length; i += size, n++) {
    const batch = newestFirst.slice(i, i + size);
    const targets = Object.fromEntries(batch.map((node) => [node.id, state.node(node.id).previousRelease]));
    for (const node of batch) state.record(`${node.id}: rolling back to ${targets[node.id] ?? '(no release: taken out of rotation)'}`);
    try {
      const outcomes = await runBatch(env.name, n, { environment: { ...env, nodes: batch }, mode: 'undo', release: '', targets, concurrency: concurrencyOf(env, batch.length) });
      for (const outcome of outcomes) {
        const entry = state.node(outcome.id);
        if (outcome.ok) {
          Object.assign(entry, { release: outcome.release, lb: outcome.lb, state: 'rolled-back' });
          state.record(`${outcome.id}: back on ${outcome.release ?? '(none)'}, ${outcome.lb}`);
        } else {
          undoFailed(state, outcome.id, outcome.error);
        }
      }
    } catch (err) {
      for (const node of batch) undoFailed(state, node.id, describeFailure(err));
    }
  }
}

function undoFailed(state: DeploymentState, id: string, error: string): void {
  const entry = state.node(id);
  entry.state = 'failed';
  entry.error = `rollback failed: ${error}`;
  state.undoFailures.push({ node: id, error });
  state.record(`${id}: rollback failed: ${error}`);
}
