// A scale run end to end: the simulated fleet, its environment, the deployment through Temporal, and
// the same node steps as a plain in-process loop for comparison. Benchmarks and the scale tests use it.
import { Client, Connection } from '@temporalio/client';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { MockActivityEnvironment } from '@temporalio/testing';
import { awaitOutcome, startOrAttach, type DeployOutcome } from '../../client/deployments';
import { createControlActivities } from '../../activities/orchestrator/control';
import type { Environment } from '../../lib/config/environment-schema';
import type { Logger } from '../../lib/core/logger';
import { batchesOf, concurrencyOf } from '../../lib/rollout/batches';
import { inLanes } from '../../lib/rollout/lanes';
import { nodeCycle } from '../../lib/rollout/node-cycle';
import { startSimulatedFleet, type SimDelays, type SimulatedFleet } from './fleet';
import { SimulatedLoadBalancer } from './load-balancer';
import { historyStats, prepareSimSource, simEnvironment, type HistoryStats, type SimSource } from './scenario';
import { clientDataConverter } from '../../client/data-converter';

export interface SimRunOptions {
  address: string;
  namespace?: string;
  dir: string;
  name: string;
  nodeCount: number;
  batchSize: number | string;
  maxUnavailable?: number | string;
  delays: SimDelays;
  drainMs: number;
  pollMs: number;
  healthDeadlineMs?: number;
  taskQueue: string;
  unhealthy?: { release: string; nodes: string[] };
  /** The orchestrator's definitions directory this run's environment is written to (default <dir>/environments). */
  environmentsDir?: string;
}

export interface SimStack {
  client: Client;
  env: Environment;
  environmentsDir: string;
  fleet: SimulatedFleet;
  source: SimSource;
  /** Runs a deployment of `release` and waits for its outcome. */
  deploy(release: string): Promise<{ outcome: DeployOutcome; wallMs: number }>;
  history(): Promise<HistoryStats>;
  /** For each batch, the slowest node's drain wait + restart + health wait. */
  idealMs(): number;
  stop(): Promise<void>;
}

export async function startSimStack(o: SimRunOptions): Promise<SimStack> {
  const namespace = o.namespace ?? 'default';
  const source = await prepareSimSource(o.dir, ['v1', 'v2', 'v3']);
  const connection = await Connection.connect({ address: o.address });
  const client = new Client({ connection, namespace , dataConverter: clientDataConverter() });
  const nodeIds = Array.from({ length: o.nodeCount }, (_, i) => `n${String(i + 1).padStart(4, '0')}`);
  const fleet = await startSimulatedFleet({ address: o.address, namespace, environment: o.name, nodeIds, initialRelease: 'v1', delays: o.delays, ...(o.unhealthy ? { unhealthy: o.unhealthy } : {}) });
  const env = simEnvironment({
    name: o.name,
    nodes: fleet.nodes,
    remote: source.remote,
    batchSize: o.batchSize,
    maxUnavailable: o.maxUnavailable,
    pollMs: o.pollMs,
    healthDeadlineMs: o.healthDeadlineMs,
    artifactUrl: `file://${path.join(o.dir, 'app-{release}.tgz')}`,
  });
  // The orchestrator reads the definition from its directory, as in production.
  const environmentsDir = o.environmentsDir ?? path.join(o.dir, 'environments');
  await mkdir(environmentsDir, { recursive: true });
  await writeFile(path.join(environmentsDir, `${o.name}.yaml`), stringify(env));
  return {
    client,
    env,
    environmentsDir,
    fleet,
    source,
    async deploy(release) {
      const started = Date.now();
      const handle = await startOrAttach(client, { input: { environment: o.name, release, artifactSha256: source.artifacts[release]!.sha256, requestedBy: 'bench' }, taskQueue: o.taskQueue });
      const outcome = await awaitOutcome(handle);
      return { outcome, wallMs: Date.now() - started };
    },
    history: () => historyStats(client, o.name),
    idealMs: () => batchesOf(env).length * (o.drainMs + o.delays.restartMs + o.delays.healthMs),
    async stop() {
      await fleet.stop();
      await connection.close();
    },
  };
}

/**
 * The in-process load balancer for every environment of a run, one per environment's socket name
 * (`sim:<environment>`), created with the servers `serversOf` names for it.
 */
export function simLoadBalancers(drainMs: number, serversOf: (environment: string) => string[]) {
  const bySocket = new Map<string, SimulatedLoadBalancer>();
  return (lb: { socket: string; backend: string }) => {
    let sim = bySocket.get(lb.socket);
    if (!sim) bySocket.set(lb.socket, (sim = new SimulatedLoadBalancer(drainMs).add(lb.backend, serversOf(lb.socket.replace(/^sim:/, '')))));
    return sim;
  };
}

/**
 * The same steps without Temporal: probe every node, stage, then per batch drain → activate → health
 * → enable, calling the same control code directly and the fleet's agents in process. What is left
 * between this and the durable run is the cost of durability.
 */
export async function plainLoop(env: Environment, fleet: SimulatedFleet, release: string, drainMs: number, logger: Logger): Promise<number> {
  const lb = new SimulatedLoadBalancer(drainMs);
  const control = createControlActivities({ logger, loadBalancer: () => lb });
  const activity = new MockActivityEnvironment();
  const nodeOf = new Map(fleet.nodes.map((n) => [n.id, n]));
  lb.add(env.loadBalancer.backend, env.nodes.map((n) => n.id));
  const started = Date.now();
  await activity.run(control.checkServers.bind(control), { lb: env.loadBalancer, servers: env.nodes.map((n) => n.id) });
  await Promise.all(env.nodes.map((n) => activity.run(control.waitHealthy.bind(control), { address: n.address, check: env.healthCheck, release: nodeOf.get(n.id)!.release!, successThreshold: 1 })));
  await Promise.all(env.nodes.map((n) => fleet.agent(n.id).stage({ release })));
  for (const batch of batchesOf(env)) {
    await inLanes(batch, concurrencyOf(env, batch.length), async (n) => {
      const server = { lb: env.loadBalancer, server: n.id };
      await nodeCycle(
        {
          drain: () => activity.run(control.drain.bind(control), server),
          activate: (r) => fleet.agent(n.id).activate({ release: r }),
          waitHealthy: (r) => activity.run(control.waitHealthy.bind(control), { address: n.address, check: env.healthCheck, release: r }),
          enable: () => activity.run(control.enable.bind(control), server),
          deactivate: () => fleet.agent(n.id).deactivate(),
        },
        release,
      );
    });
  }
  return Date.now() - started;
}
