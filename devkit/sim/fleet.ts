// A simulated fleet for scale benchmarks: every node has its own Temporal worker on its own task queue
// (as a real agent does), all in one process over one connection, and its own health endpoint on
// loopback. Restarting the app and becoming healthy are configured delays; nothing is installed.
import { ApplicationFailure } from '@temporalio/activity';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { failureTypes } from '../../lib/core/failure-types';
import { sleep } from '../../lib/core/wait';
import { agentTaskQueue } from '../../workflows/api';
import { workerDataConverter } from '../../client/data-converter';

export interface SimDelays {
  /** Staging (download + unpack) per node. */
  stageMs: number;
  /** Stopping the old app and starting the new one. */
  restartMs: number;
  /** From start until the health endpoint answers 200. */
  healthMs: number;
}

export interface SimNode {
  id: string;
  release: string | null;
  activatedAt: number;
  staged: Set<string>;
  /** How many times `activate` switched this node's release (exactly once per deployment expected). */
  activations: number;
  address: string;
}

export interface SimulatedFleet {
  nodes: SimNode[];
  /** The node's agent activities, to call without Temporal (the plain-loop comparison). */
  agent(id: string): SimulatedAgent;
  stop(): Promise<void>;
}

export type SimulatedAgent = ReturnType<typeof simulatedAgent>;

function simulatedAgent(node: SimNode, delays: SimDelays) {
  return {
    currentRelease: () => Promise.resolve({ release: node.release, running: node.release }),
    isStaged: ({ release }: { release: string }) => Promise.resolve(node.staged.has(release)),
    async stage({ release }: { release: string }) {
      if (!node.staged.has(release)) await sleep(delays.stageMs);
      node.staged.add(release);
      return { staged: true, removed: [] };
    },
    async activate({ release }: { release: string }) {
      const previous = node.release;
      if (previous === release && node.activatedAt > 0) return { changed: false, previous };
      if (!node.staged.has(release)) throw ApplicationFailure.nonRetryable(`release ${release} is not staged on ${node.id}`, failureTypes.notStaged);
      node.release = null;
      await sleep(delays.restartMs);
      Object.assign(node, { release, activatedAt: Date.now(), activations: node.activations + 1 });
      return { changed: true, previous };
    },
    deactivate() {
      const changed = node.release !== null;
      node.release = null;
      return Promise.resolve({ changed });
    },
  };
}

/** Healthy once `healthMs` have passed since the release started, reporting the release; never for a bad release. */
async function healthEndpoint(node: SimNode, healthMs: number, badRelease: string | undefined): Promise<Server> {
  const server = createServer((_req, res) => {
    const healthy = node.release !== null && node.release !== badRelease && Date.now() - node.activatedAt >= healthMs;
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ release: node.release, healthy }));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  node.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return server;
}

/**
 * Long polls per connection: a server caps concurrent streams on one HTTP/2 connection (100 is
 * common), and a poll over the cap waits for another to return — up to a minute.
 */
const POLLERS_PER_CONNECTION = 50;

export async function startSimulatedFleet(options: {
  address: string;
  namespace: string;
  environment: string;
  nodeIds: string[];
  initialRelease: string;
  delays: SimDelays;
  /** This release never becomes healthy on these nodes (a bad release, for rollback runs). */
  unhealthy?: { release: string; nodes: string[] };
}): Promise<SimulatedFleet> {
  const nodes: SimNode[] = options.nodeIds.map((id) => ({
    id,
    release: options.initialRelease,
    activatedAt: 1,
    staged: new Set([options.initialRelease]),
    activations: 0,
    address: '',
  }));
  const bad = (id: string) => (options.unhealthy?.nodes.includes(id) ? options.unhealthy.release : undefined);
  const servers = await Promise.all(nodes.map((node) => healthEndpoint(node, options.delays.healthMs, bad(node.id))));
  const agents = new Map(nodes.map((node) => [node.id, simulatedAgent(node, options.delays)]));
  const connections = await Promise.all(
    Array.from({ length: Math.ceil(nodes.length / POLLERS_PER_CONNECTION) }, () => NativeConnection.connect({ address: options.address })),
  );
  const workers = await Promise.all(
    nodes.map((node, i) =>
      Worker.create({
        connection: connections[Math.floor(i / POLLERS_PER_CONNECTION)]!,
        namespace: options.namespace,
        taskQueue: agentTaskQueue(options.environment, node.id),
        activities: agents.get(node.id)!,
        dataConverter: workerDataConverter(),
        // One poller per node, as a small real agent would run: the fleet is many queues, not many pollers.
        activityTaskPollerBehavior: { type: 'simple-maximum', maximum: 1 },
        maxConcurrentActivityTaskExecutions: 4,
        maxHeartbeatThrottleInterval: '1s',
      }),
    ),
  );
  const running = workers.map((w) => w.run());
  return {
    nodes,
    agent: (id) => agents.get(id)!,
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(running);
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
      await Promise.all(connections.map((c) => c.close()));
    },
  };
}
