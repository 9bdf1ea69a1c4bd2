// One node's deployment: drain → activate (the release was staged on every node before rollout) →
// health → enable. With no release (undoing a fresh node's first deployment): drain → stop the app,
// and the node stays out of rotation.
import { ApplicationFailure, isCancellation } from '@temporalio/workflow';
import { serverName } from '../lib/environment-rules';
import type { NodeDeployInput, NodeDeployResult } from './api';
import { describeFailure, innermost } from './failures';
import { agentOf, nodeSteps } from './proxies';

export async function nodeDeployment(input: NodeDeployInput): Promise<NodeDeployResult> {
  let step = 'drain';
  try {
    return await deployNode(input, (name) => (step = name));
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

async function deployNode(input: NodeDeployInput, at: (step: string) => void): Promise<NodeDeployResult> {
  const { node, loadBalancer: lb, healthCheck, release } = input;
  const server = serverName(node);

  const { drains, health, lbOps } = nodeSteps(lb, healthCheck);
  const agent = agentOf(input.environment, node.id, input.activateTimeoutMs + 600_000);

  // Summaries say in words what each step is, in the Temporal UI's event history.
  const says = (summary: string) => ({ summary });
  at('drain');
  await drains.drain.executeWithOptions(says(`drain ${node.id}`), [{ lb, server }]);
  if (release === null) {
    at('deactivate');
    await agent.deactivate.executeWithOptions(says(`stop the app on ${node.id}`), []);
    return { id: node.id, release: null, lb: 'maint', healthAttempts: 0 };
  }
  at('activate');
  await agent.activate.executeWithOptions(says(`activate ${release} on ${node.id}`), [{ release }]);
  at('waitHealthy');
  const { attempts } = await health.waitHealthy.executeWithOptions(says(`health ${node.id}`), [{ address: node.address, check: healthCheck, release }]);
  at('enable');
  await lbOps.enable.executeWithOptions(says(`enable ${node.id}`), [{ lb, server }]);
  return { id: node.id, release, lb: 'ready', healthAttempts: attempts };
}
