// One node's deployment: drain → configure (stage when an artifact is given, activate) → health →
// enable. With no release (undoing a fresh node's first deployment): drain → stop the app, and the
// node stays out of rotation.
import { proxyActivities } from '@temporalio/workflow';
import type { AgentActivities } from '../activities/agent';
import type { ControlActivities } from '../activities/control';
import { serverName } from '../lib/environment-schema';
import { agentTaskQueue, type NodeDeployInput, type NodeDeployResult } from './api';

const lbOps = proxyActivities<ControlActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', maximumAttempts: 10 },
});

export async function nodeDeployment(input: NodeDeployInput): Promise<NodeDeployResult> {
  const { node, loadBalancer: lb, healthCheck, release } = input;
  const server = serverName(node);

  // Short heartbeat time-outs: a killed worker's activity is retried within seconds.
  const lbWaits = proxyActivities<ControlActivities>({
    startToCloseTimeout: lb.drainTimeout + 30_000,
    heartbeatTimeout: '5s',
    retry: { initialInterval: '1s', maximumAttempts: 5 },
  });
  const healthPolls = proxyActivities<ControlActivities>({
    startToCloseTimeout: healthCheck.deadline + 30_000,
    // It heartbeats once per probe.
    heartbeatTimeout: 2 * healthCheck.interval + healthCheck.requestTimeout + 2_000,
    retry: { initialInterval: '1s', maximumAttempts: 3 },
  });
  const agent = proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(input.environment, node.id),
    scheduleToStartTimeout: '5m',
    startToCloseTimeout: input.activateTimeoutMs + 600_000,
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', maximumAttempts: 5 },
  });

  // Summaries say in words what each step is, in the Temporal UI's event history.
  const says = (summary: string) => ({ summary });
  await lbWaits.drain.executeWithOptions(says(`drain ${node.id}`), [{ lb, server }]);
  if (release === null) {
    await agent.deactivate.executeWithOptions(says(`stop the app on ${node.id}`), []);
    return { id: node.id, release: null, lb: 'maint', healthAttempts: 0 };
  }
  const artifact = input.artifact;
  if (artifact) await agent.stage.executeWithOptions(says(`stage ${release} on ${node.id}`), [{ release, url: artifact.url, sha256: artifact.sha256 }]);
  await agent.activate.executeWithOptions(says(`activate ${release} on ${node.id}`), [{ release }]);
  const { attempts } = await healthPolls.waitHealthy.executeWithOptions(says(`health ${node.id}`), [{ address: node.address, check: healthCheck, release }]);
  await lbOps.enable.executeWithOptions(says(`enable ${node.id}`), [{ lb, server }]);
  return { id: node.id, release, lb: 'ready', healthAttempts: attempts };
}
