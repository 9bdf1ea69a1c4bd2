// The node cycle's steps as activities: the load-balancer and health steps from the given proxies
// (local activities in a node's child workflow, remote ones in downtime mode), activation on the
// node's agent. Each step carries a summary for the Temporal UI's event history.
import type { ActivityInterfaceFor, LocalActivityInterfaceFor } from '@temporalio/workflow';
import type { ControlActivities } from '../../activities/orchestrator/control';
import { serverName } from '../../lib/config/environment-rules';
import type { HealthCheck, LoadBalancer, NodeConfig } from '../../lib/config/environment-schema';
import type { NodeCycleSteps } from '../../lib/rollout/node-cycle';
import { agentOf } from './proxies';

type Control = ActivityInterfaceFor<ControlActivities> | LocalActivityInterfaceFor<ControlActivities>;

/** One proxy per time-out profile: draining, health polling, quick load-balancer commands. */
export interface ControlProxies {
  drains: Control;
  health: Control;
  lbOps: Control;
}

export interface NodeTarget {
  environment: string;
  node: NodeConfig;
  loadBalancer: LoadBalancer;
  healthCheck: HealthCheck;
  /** Bounds the agent's activate step: stop grace + start time-out. */
  activateTimeoutMs: number;
  /** Blue-green rehearsal: start the release against this rehearsal copy of the database. */
  rehearsal?: string;
}

export function nodeCycleSteps({ environment, node, loadBalancer: lb, healthCheck, activateTimeoutMs, rehearsal }: NodeTarget, { drains, health, lbOps }: ControlProxies): NodeCycleSteps {
  const server = serverName(node);
  const agent = agentOf(environment, node.id, activateTimeoutMs + 60_000);
  const says = (summary: string) => ({ summary });
  return {
    drain: () => drains.drain.executeWithOptions(says(`drain ${node.id}`), [{ lb, server }]),
    recheck: () => drains.drain.executeWithOptions(says(`re-check ${node.id} is out of rotation`), [{ lb, server }]),
    deactivate: () => agent.deactivate.executeWithOptions(says(`stop the app on ${node.id}`), []),
    activate: (release) =>
      agent.activate.executeWithOptions(says(`activate ${release} on ${node.id}${rehearsal ? ' (on the rehearsal copy of the database)' : ''}`), [{ release, ...(rehearsal ? { rehearsal } : {}) }]),
    waitHealthy: (release) => health.waitHealthy.executeWithOptions(says(`health ${node.id}`), [{ address: node.address, check: healthCheck, release }]),
    enable: () => lbOps.enable.executeWithOptions(says(`enable ${node.id}`), [{ lb, server }]),
  };
}
