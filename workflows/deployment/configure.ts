// Before any node is drained: each node renders the release's configuration templates with what the
// fleet knows (config.templates). The facts are computed here from the definition and the pools; a
// secret service goes only by the name of the variable that holds it on the node.
import type { Environment } from '../../lib/config/environment-schema';
import { acrossFleet } from '../fleet/node-group';
import type { FleetFacts } from '../fleet/types';
import type { DeploymentState, WorkflowInput } from './state';

export function fleetFacts(input: WorkflowInput, target: Environment, state: DeploymentState): { facts: FleetFacts; secretServices: Record<string, string> } {
  const env = input.environment;
  const services: Record<string, string> = {};
  const secretServices: Record<string, string> = {};
  for (const [name, value] of Object.entries(env.config?.services ?? {})) {
    if (typeof value === 'string') services[name] = value;
    else secretServices[name] = value.fromNodeEnv;
  }
  const pools = state.pools;
  return {
    facts: {
      environment: env.name,
      release: input.release,
      nodes: env.nodes.map((n) => ({ id: n.id, address: n.address, server: n.server ?? n.id })),
      serving: target.nodes.map((n) => n.id),
      pool: pools ? { live: pools.live, target: pools.target } : null,
      services,
    },
    secretServices,
  };
}

/** Renders on every node of `target`; a missing fact fails here, while every node still serves the old release. */
export async function renderConfiguration(input: WorkflowInput, target: Environment, state: DeploymentState): Promise<void> {
  const templates = input.environment.config?.templates ?? [];
  if (templates.length === 0) return;
  const { facts, secretServices } = fleetFacts(input, target, state);
  const results = await acrossFleet(target, { op: 'configure', release: input.release, templates, facts, secretServices }, input.shape);
  state.configured(results.flatMap((r) => (r.config ? [{ id: r.id, ...r.config }] : [])));
}
