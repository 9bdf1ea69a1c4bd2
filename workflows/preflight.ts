// Before anything changes: every server is in the load balancer, every agent answers, every running
// node is healthy, and each node's current release is recorded (what a rollback returns to).
import { ApplicationFailure } from '@temporalio/workflow';
import { serverName } from '../lib/environment-rules';
import type { Environment } from '../lib/environment-schema';
import { failureTypes } from './api';
import type { DeploymentState } from './deployment-state';
import { acrossFleet } from './node-group';
import { control } from './proxies';

export async function preflight(env: Environment, state: DeploymentState): Promise<void> {
  const [lbStatus, facts] = await Promise.all([
    control.checkServers({ lb: env.loadBalancer, servers: env.nodes.map(serverName) }),
    acrossFleet(env, { op: 'probe' }),
  ]);
  for (const [i, node] of env.nodes.entries()) {
    const entry = state.node(node.id);
    entry.release = entry.previousRelease = facts[i]!.release ?? null;
    entry.lb = lbStatus[serverName(node)] ?? 'unknown';
  }
  state.record(`preflight passed: ${summarizeReleases(state)}`);
}

/** "web-1=v1, web-2=v1" for a small fleet; counts per release for a big one. */
function summarizeReleases(state: DeploymentState): string {
  if (state.nodes.length <= 10) return state.nodes.map((n) => `${n.id}=${n.release ?? '(none)'}`).join(', ');
  const counts = new Map<string, number>();
  for (const n of state.nodes) counts.set(n.release ?? '(none)', (counts.get(n.release ?? '(none)') ?? 0) + 1);
  return [...counts].map(([release, n]) => `${n} on ${release}`).join(', ');
}

/** A rollback downloads nothing: every node must still keep the release. */
export async function requireKept(env: Environment, release: string): Promise<void> {
  const facts = await acrossFleet(env, { op: 'kept', release });
  const missing = facts.filter((f) => !f.kept).map((f) => f.id);
  if (missing.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `release ${release} is no longer kept on ${missing.sort().join(', ')}; deploy it with \`gantry deploy\` and its artifact instead`,
      failureTypes.notKept,
    );
  }
}
