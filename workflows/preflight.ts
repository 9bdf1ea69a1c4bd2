// Before anything changes: every server is in the load balancer, every agent answers, every running
// node is healthy, and each node's current release is recorded (what a rollback returns to).
import { ApplicationFailure } from '@temporalio/workflow';
import { serverName, type Environment } from '../lib/environment-schema';
import { failureTypes } from './api';
import type { DeploymentState } from './deployment-state';
import { describeFailure } from './failures';
import { agentProbe, control } from './proxies';

export async function preflight(env: Environment, state: DeploymentState): Promise<void> {
  const lbStatus = await control.checkServers({ lb: env.loadBalancer, servers: env.nodes.map(serverName) });
  await Promise.all(
    env.nodes.map(async (node) => {
      const { release } = await agentProbe(env.name, node.id)
        .currentRelease()
        .catch((err: unknown) => {
          throw ApplicationFailure.nonRetryable(`agent of node ${node.id} did not answer: ${describeFailure(err)}`, 'AgentUnavailable');
        });
      const entry = state.node(node.id);
      entry.release = entry.previousRelease = release;
      entry.lb = lbStatus[serverName(node)] ?? 'unknown';
      // A fresh node has nothing to check yet.
      if (release !== null) {
        await control.waitHealthy({ address: node.address, check: env.healthCheck, release, successThreshold: 1, deadlineMs: 15_000 });
      }
    }),
  );
  state.record(`preflight passed: ${env.nodes.map((n) => `${n.id}=${state.node(n.id).release ?? '(none)'}`).join(', ')}`);
}

/** A rollback downloads nothing: every node must still keep the release. */
export async function requireKept(env: Environment, release: string): Promise<void> {
  const missing: string[] = [];
  await Promise.all(
    env.nodes.map(async (node) => {
      if (!(await agentProbe(env.name, node.id).isStaged({ release }))) missing.push(node.id);
    }),
  );
  if (missing.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `release ${release} is no longer kept on ${missing.sort().join(', ')}; deploy it with \`gantry deploy\` and its artifact instead`,
      failureTypes.notKept,
    );
  }
}
