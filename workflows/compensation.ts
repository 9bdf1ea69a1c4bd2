// Undo: every node that changed goes back to the release recorded in preflight, newest change first,
// through the same drain → activate → health → enable cycle (the old release is still on the node, so
// nothing is downloaded). A node that had no release is drained, its app stopped, and left out of
// rotation. An undo that fails is recorded and the others still run.
import type { Environment, NodeConfig } from '../lib/environment-schema';
import { nodeRollbackWorkflowId } from './api';
import type { DeploymentState } from './deployment-state';
import { describeFailure } from './failures';
import { runNodeChild } from './node-child';

/** Call inside CancellationScope.nonCancellable: an abort or a cancel must not interrupt the undo. */
export async function compensate(env: Environment, state: DeploymentState, changed: NodeConfig[]): Promise<void> {
  state.enter('rolling-back');
  for (const node of [...changed].reverse()) {
    const entry = state.node(node.id);
    const target = entry.previousRelease;
    state.record(`${node.id}: rolling back to ${target ?? '(no release: taken out of rotation)'}`);
    try {
      const result = await runNodeChild(env, node, nodeRollbackWorkflowId(env.name, node.id), target, undefined);
      Object.assign(entry, { release: result.release, lb: result.lb, state: 'rolled-back' });
      state.record(`${node.id}: back on ${result.release ?? '(none)'}, ${result.lb}`);
    } catch (err) {
      const error = describeFailure(err);
      entry.state = 'failed';
      entry.error = `rollback failed: ${error}`;
      state.undoFailures.push({ node: node.id, error });
      state.record(`${node.id}: rollback failed: ${error}`);
    }
  }
}
