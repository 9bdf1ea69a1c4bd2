// Before anything changes: every server is in the load balancer, every agent answers, every running
// node is healthy, and each node's current release is recorded (what a rollback returns to).
import { ApplicationFailure } from '@temporalio/workflow';
import { serverName } from '../../lib/config/environment-rules';
import { failureTypes } from '../../lib/core/failure-types';
import { control } from '../common/proxies';
import { acrossFleet } from '../fleet/node-group';
import type { DeploymentState, WorkflowInput } from './state';

export async function preflight({ environment: env, shape }: WorkflowInput, state: DeploymentState): Promise<void> {
  const [lbStatus, facts] = await Promise.all([
    control.checkServers({ lb: env.loadBalancer, servers: env.nodes.map(serverName) }),
    acrossFleet(env, { op: 'probe' }, shape),
  ]);
  state.preflightPassed(env.nodes.map((node, i) => ({ id: node.id, release: facts[i]!.release ?? null, lb: lbStatus[serverName(node)] ?? 'unknown' })));
}

/** A rollback downloads nothing: every node must still keep the release. */
export async function requireKept({ environment: env, shape }: WorkflowInput, release: string): Promise<void> {
  const facts = await acrossFleet(env, { op: 'kept', release }, shape);
  const missing = facts.filter((f) => !f.kept).map((f) => f.id);
  if (missing.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `release ${release} is no longer kept on ${missing.sort().join(', ')}; deploy it with \`gantry deploy\` and its artifact instead`,
      failureTypes.notKept,
    );
  }
}
