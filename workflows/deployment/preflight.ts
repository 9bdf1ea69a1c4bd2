// Before anything changes: every server is in the load balancer, every agent answers, every running
// node is healthy, and each node's current release is recorded (what a rollback returns to).
import { ApplicationFailure } from '@temporalio/workflow';
import { serverName } from '../../lib/config/environment-rules';
import { failureTypes } from '../../lib/core/failure-types';
import { control } from '../common/proxies';
import { acrossFleet } from '../fleet/node-group';
import type { NodeFact } from '../fleet/types';
import type { NodeConfig } from '../../lib/config/environment-schema';
import type { DeploymentState, WorkflowInput } from './state';

/**
 * A rollback's preflight on a sick fleet: unhealthy nodes are the reason to roll back, and nodes whose
 * agent does not answer within seconds are left out (reported), not waited on. Returns the input with
 * the nodes the rollback can reach; every other step works from that.
 */
export async function rollbackPreflight(input: WorkflowInput, state: DeploymentState): Promise<WorkflowInput> {
  const { environment: env, shape } = input;
  const [lbStatus, facts] = await Promise.all([
    control.checkServers({ lb: env.loadBalancer, servers: env.nodes.map(serverName) }),
    // A repair judges by what runs (and whether `current` agrees), as gantry repair's survey does.
    acrossFleet(env, { op: input.repair ? 'inspect' : 'survey' }, shape),
  ]);
  const reachable = env.nodes.filter((_, i) => facts[i]?.reachable === true);
  // The runner's agent makes the backup and runs the migrations: without it a rollback cannot go on.
  const runner = env.migrations && !input.repair ? (env.migrations.runner ?? env.nodes[0]!.id) : undefined;
  if (runner !== undefined && !reachable.some((n) => n.id === runner)) {
    throw ApplicationFailure.nonRetryable(
      `the migration runner ${runner} is unreachable (${facts.find((f) => f.id === runner)?.error ?? 'no answer'}); a rollback of ${env.name} needs it for the backup and migrations: bring its agent back or name another migrations.runner`,
      failureTypes.agentUnavailable,
    );
  }
  if (reachable.length === 0) {
    throw ApplicationFailure.nonRetryable(`no agent of ${env.name} answered: ${facts.map((f) => `${f.id}: ${f.error}`).join('; ')}`, failureTypes.agentUnavailable);
  }
  state.preflightPassed(
    env.nodes.flatMap((node, i) => (facts[i]?.reachable !== true ? [] : [{ id: node.id, release: facts[i].release ?? null, lb: lbStatus[serverName(node)] ?? 'unknown' }])),
  );
  for (const [i, node] of env.nodes.entries()) {
    const fact = facts[i];
    if (fact?.reachable !== true) state.nodeUnreachable(node.id, fact?.error ?? 'its agent did not answer', lbStatus[serverName(node)] ?? 'unknown');
    else if (fact.healthy === false) state.record(`${node.id}: unhealthy on ${fact.release ?? '(none)'}; rolling it back`);
  }
  if (input.repair) return { ...input, environment: { ...env, nodes: needingRepair(input, state, reachable, facts, lbStatus) } };
  return reachable.length === env.nodes.length ? input : { ...input, environment: { ...env, nodes: reachable } };
}

/** gantry repair changes only what is off the invariant: a node already serving the release healthily, in rotation, is left alone. */
function needingRepair(input: WorkflowInput, state: DeploymentState, reachable: NodeConfig[], facts: NodeFact[], lbStatus: Record<string, string>): NodeConfig[] {
  const byId = new Map(facts.map((f) => [f.id, f]));
  const needing = reachable.filter((node) => {
    const fact = byId.get(node.id)!;
    return fact.release !== input.release || fact.current !== undefined || fact.healthy !== true || lbStatus[serverName(node)] !== 'ready';
  });
  const fine = reachable.filter((node) => !needing.includes(node));
  state.record(
    needing.length === 0
      ? `repair: every reachable node serves ${input.release} healthily and is in rotation; nothing to change`
      : `repair: ${needing.map((n) => n.id).join(', ')} to ${input.release}${fine.length ? `; ${fine.map((n) => n.id).join(', ')} already right` : ''}`,
  );
  return needing;
}

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
