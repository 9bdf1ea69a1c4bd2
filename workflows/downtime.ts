// Downtime mode, for migrations old releases cannot run on: every node leaves rotation at once (the
// load balancer then answers with its maintenance page), the migration and the switch run, and the
// nodes come back. The downtime is measured from the load balancer's side.
import { serverName } from '../lib/environment-rules';
import type { NodeConfig } from '../lib/environment-schema';
import type { DeployInput } from './api';
import type { DeploymentState } from './deployment-state';
import { backupAndExpand } from './migrations';
import { agentOf, healthPolls, lbWaits } from './proxies';

export async function downtimeRollout(input: DeployInput, state: DeploymentState, changed: NodeConfig[]): Promise<void> {
  const env = input.environment;
  const lb = env.loadBalancer;
  const lbOps = lbWaits(lb);
  const health = healthPolls(env.healthCheck);
  const agents = (node: NodeConfig) => agentOf(env.name, node.id, env.app.stopGrace + env.app.startTimeout + 600_000);

  state.enter('migrate');
  for (const node of env.nodes) {
    changed.push(node);
    state.node(node.id).state = 'deploying';
  }
  const drained = await Promise.all(env.nodes.map((node) => lbOps.drain({ lb, server: serverName(node) })));
  // A draining server takes no new requests: the site is down once the last one started draining.
  const downSince = Math.max(...drained.map((d) => d.drainAt));
  state.record('downtime: every node is out of rotation; the maintenance page answers');

  await backupAndExpand(input, state);
  await Promise.all(env.nodes.map((node) => agents(node).activate({ release: input.release })));
  await Promise.all(
    env.nodes.map((node) => health.waitHealthy({ address: node.address, check: env.healthCheck, release: input.release })),
  );
  const enabled = await Promise.all(env.nodes.map((node) => lbOps.enable({ lb, server: serverName(node) })));
  state.migration.downtimeMs = Math.min(...enabled.map((e) => e.readyAt)) - downSince;
  for (const node of env.nodes) Object.assign(state.node(node.id), { release: input.release, lb: 'ready', state: 'live' });
  state.record(`downtime over after ${state.migration.downtimeMs} ms; every node is live on ${input.release}`);
}
