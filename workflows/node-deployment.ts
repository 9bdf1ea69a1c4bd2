// One node's deployment: drain → configure (stage when an artifact is given, activate) → health →
// enable. With no release (undoing a fresh node's first deployment): drain → stop the app, and the
// node stays out of rotation.
import { proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../activities/control';
import { serverName } from '../lib/environment-schema';
import type { NodeDeployInput, NodeDeployResult } from './api';
import { agentOf, healthPolls, lbWaits } from './proxies';

/** Quick load-balancer commands: enabling a server. */
const lbOps = proxyActivities<ControlActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', maximumAttempts: 10 },
});

export async function nodeDeployment(input: NodeDeployInput): Promise<NodeDeployResult> {
  const { node, loadBalancer: lb, healthCheck, release } = input;
  const server = serverName(node);

  const drains = lbWaits(lb);
  const health = healthPolls(healthCheck);
  const agent = agentOf(input.environment, node.id, input.activateTimeoutMs + 600_000);

  // Summaries say in words what each step is, in the Temporal UI's event history.
  const says = (summary: string) => ({ summary });
  await drains.drain.executeWithOptions(says(`drain ${node.id}`), [{ lb, server }]);
  if (release === null) {
    await agent.deactivate.executeWithOptions(says(`stop the app on ${node.id}`), []);
    return { id: node.id, release: null, lb: 'maint', healthAttempts: 0 };
  }
  const artifact = input.artifact;
  if (artifact) await agent.stage.executeWithOptions(says(`stage ${release} on ${node.id}`), [{ release, url: artifact.url, sha256: artifact.sha256 }]);
  await agent.activate.executeWithOptions(says(`activate ${release} on ${node.id}`), [{ release }]);
  const { attempts } = await health.waitHealthy.executeWithOptions(says(`health ${node.id}`), [{ address: node.address, check: healthCheck, release }]);
  await lbOps.enable.executeWithOptions(says(`enable ${node.id}`), [{ lb, server }]);
  return { id: node.id, release, lb: 'ready', healthAttempts: attempts };
}
