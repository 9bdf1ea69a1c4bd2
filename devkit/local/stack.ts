// The embedded local stack: HAProxy on loopback, one agent per node and an orchestrator worker, all as
// real processes (`gantry agent`, `gantry worker`) against a Temporal server; a dev server when no
// address is given. Used by the demo and the end-to-end tests.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { stopRecordedApp } from '../../lib/node/app-supervisor';
import type { EnvironmentInput } from '../../lib/config/environment-schema';
import type { nodeConfigSchema } from '../../lib/config/node-config';
import type { z } from 'zod';
import { sleep, waitUntil } from '../../lib/core/wait';
import { startProcess, type ManagedProcess } from './child-process';
import { reapLater } from './reaper';
import { startArtifactServer, type ArtifactServer } from './artifact-server';
import { startHaproxy, type HaproxyServer } from './haproxy-server';
import { freePort } from './ports';
import { buildSampleReleases, type SampleReleaseSpec, type SampleRepo } from './sample-releases';
import { pickPort, startDevServer, type DevServer } from './temporal-dev-server';
import { createCodecKeys, startLocalCodecServer, type LocalCodecServer } from './codec';

const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

export interface LocalStackOptions {
  dir: string;
  name: string;
  nodeCount: number;
  releases: SampleReleaseSpec[];
  haproxyPath: string;
  /** Use this server; otherwise start a dev server with `temporalPath`. */
  temporalAddress?: string;
  temporalPath?: string;
  devServerPorts?: { port: number; uiPort: number };
  /** More flags for the dev server this stack starts, e.g. --dynamic-config-value. */
  temporalServerArgs?: string[];
  /** The orchestrator worker's task queue; unique per stack so stacks sharing a server never mix. */
  taskQueue: string;
  /** Extra variables for the orchestrator worker (notification secrets, CI tokens). */
  workerEnv?: Record<string, string>;
  /** Extra variables for every agent (DATABASE_URL: secrets stay in the agent's environment). */
  agentEnv?: Record<string, string>;
  /** Serve artifacts over HTTP (a server that can be told to fail) instead of file:// URLs. */
  artifactServer?: boolean;
  /** Extra settings merged into the orchestrator's definition of the environment. */
  environment?: Partial<EnvironmentInput>;
  /** Payloads in clear even on the stack's own server (recording replay fixtures anyone can read). */
  plainPayloads?: boolean;
  /** Blue-green: the nodes split in two pools (first half blue, second green), each its own backend, a shadow frontend and a map. */
  blueGreen?: boolean;
  /** Extra settings merged into every node's own config (migration commands, secrets). */
  node?: Partial<Omit<NodeConfigInput, 'app'>> & { app?: Partial<NodeConfigInput['app']> };
}

export type NodeConfigInput = z.input<typeof nodeConfigSchema>;

export interface LocalStack {
  name: string;
  /** The orchestrator's definition of this environment, in its definitions directory. */
  envFile: string;
  /** The orchestrator's definitions directory (GANTRY_ENVIRONMENTS). */
  environmentsDir: string;
  /** Rewrites the orchestrator's definition: the stack's own with `patch` merged in (the next deployment reads it). */
  define(patch?: Partial<EnvironmentInput> | Record<string, unknown>): Promise<string>;
  /** Each node's own config file (gantry agent --config) and its folder. */
  nodeConfigFile(id: string): string;
  nodeRoot(id: string): string;
  taskQueue: string;
  temporalAddress: string;
  uiUrl?: string;
  haproxy: HaproxyServer;
  repo: SampleRepo;
  nodeIds: string[];
  /** Kills a node's agent with SIGKILL (its app keeps running) and starts a new one. */
  restartAgent(id: string, afterMs?: number): Promise<void>;
  /** A node gone for good: its agent and its app killed with SIGKILL, nothing restarted (startAgent brings a new agent). */
  killNode(id: string): Promise<void>;
  /** Starts a node's agent again after killNode (it starts the node's current release). */
  startAgent(id: string): void;
  /** Kills the orchestrator worker with SIGKILL and starts a new one. */
  restartWorker(afterMs?: number): Promise<void>;
  /** Kills the stack's own Temporal dev server with SIGKILL (no clean shutdown) and starts it again on the same port and SQLite file. */
  restartTemporal(downMs: number): Promise<void>;
  artifacts?: ArtifactServer;
  /** GANTRY_CODEC_KEYS of every process of the stack (unset: payloads in clear). */
  codecKeys?: string;
  /** The codec server of the stack's own dev server's Web UI. */
  codecServer?: LocalCodecServer;
  /** Environment variables that point a `gantry` process or client at this stack's server. */
  clientEnv: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

async function kill(proc: ManagedProcess): Promise<void> {
  proc.child.kill('SIGKILL');
  await waitUntil(() => proc.exited(), 5_000, 20);
}

export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  await mkdir(o.dir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    let devServer: DevServer | undefined;
    let codecServer: LocalCodecServer | undefined;
    // Payloads are encrypted with the keys of the process that starts the stack (the tests'), or with
    // fresh ones when the stack runs its own server (the demo).
    let codecKeys = process.env.GANTRY_CODEC_KEYS || undefined;
    if (!codecKeys && !o.temporalAddress && !o.plainPayloads) {
      codecKeys = await createCodecKeys(path.join(o.dir, 'codec'));
      // This process's clients (the demo's, a script's) read the same keys.
      process.env.GANTRY_CODEC_KEYS = codecKeys;
    }
    const codecEnv = codecKeys ? { GANTRY_CODEC_KEYS: codecKeys } : {};
    let devServerOptions: Parameters<typeof startDevServer>[0] | undefined;
    if (!o.temporalAddress) {
      if (!o.temporalPath) throw new Error('startLocalStack needs temporalAddress or temporalPath');
      const uiPort = await pickPort(o.devServerPorts?.uiPort);
      if (codecKeys) codecServer = await startLocalCodecServer({ dir: o.dir, uiOrigin: `http://127.0.0.1:${uiPort}`, env: { ...process.env, ...codecEnv } });
      if (codecServer) stops.push(() => codecServer!.stop());
      devServerOptions = { temporalPath: o.temporalPath, dir: o.dir, port: o.devServerPorts?.port, uiPort, uiCodecEndpoint: codecServer?.uiEndpoint, extraArgs: o.temporalServerArgs };
      devServer = await startDevServer(devServerOptions);
      stops.push(() => devServer!.stop());
      // Stopped last-registered-first; restartTemporal replaces devServer, so stop whichever runs.
    }
    const artifacts = o.artifactServer ? await startArtifactServer(path.join(o.dir, 'artifacts')) : undefined;
    if (artifacts) stops.push(() => artifacts.close());
    const temporalAddress = o.temporalAddress ?? devServer!.address;
    const repo = await buildSampleReleases(o.dir, o.releases);

    const nodes = [];
    for (let i = 1; i <= o.nodeCount; i++) {
      const id = `web-${i}`;
      nodes.push({ id, address: `127.0.0.1:${await freePort()}` });
    }
    const half = Math.ceil(nodes.length / 2);
    const pools = o.blueGreen
      ? { blue: { backend: 'app_blue', servers: nodes.slice(0, half).map((n) => n.id) }, green: { backend: 'app_green', servers: nodes.slice(half).map((n) => n.id) } }
      : undefined;
    const haproxy = await startHaproxy({
      haproxyPath: o.haproxyPath,
      dir: o.dir,
      backend: pools ? pools.blue.backend : 'app',
      servers: nodes.map((n) => ({ name: n.id, address: n.address, healthPath: '/healthz' })),
      startInMaintenance: true,
      ...(pools ? { pools } : {}),
    });
    stops.push(() => haproxy.stop());
    const nodeRoot = (id: string) => path.join(o.dir, 'nodes', id);
    for (const node of nodes) {
      reapLater({ kind: 'app', root: nodeRoot(node.id) });
      stops.push(() => stopRecordedApp(nodeRoot(node.id)));
    }

    const artifactPrefix = artifacts ? `${artifacts.url}/` : `file://${path.join(o.dir, 'artifacts')}/`;
    // Each node's own config: what its agent may run and download. The orchestrator never sends commands.
    const nodeConfigFile = (id: string) => path.join(o.dir, 'nodes', `${id}.node.yaml`);
    for (const node of nodes) {
      const config: NodeConfigInput = {
        environment: o.name,
        node: node.id,
        root: nodeRoot(node.id),
        artifacts: { allowedSources: [artifactPrefix] },
        ...o.node,
        // The app's settings merge: a test adds env without restating the command or the address.
        app: {
          command: [process.execPath, 'server.js'],
          address: node.address,
          stopGrace: '5s',
          startTimeout: '15s',
          ...o.node?.app,
          env: { NODE_ID: node.id, ...o.node?.app?.env },
        },
      };
      await mkdir(path.dirname(nodeConfigFile(node.id)), { recursive: true });
      await writeFile(nodeConfigFile(node.id), stringify(config));
    }

    const environment: EnvironmentInput = {
      name: o.name,
      nodes,
      app: { stopGrace: '5s', startTimeout: '15s' },
      loadBalancer: { type: 'haproxy', socket: haproxy.socket, backend: haproxy.backend, drainTimeout: '30s', pollInterval: '100ms' },
      rollout: { batchSize: 1 },
      healthCheck: { path: '/healthz', reportsRelease: true, interval: '200ms', successThreshold: 2, deadline: '20s' },
      source: { remote: repo.remote },
      artifact: { url: `${artifactPrefix}app-{release}.tgz` },
      // Tests deploy again right after a rollback; the queue's own tests turn the lock on.
      queue: { lockOnRollback: false },
      ...(pools
        ? {
            strategy: {
              type: 'blue-green',
              pools: { blue: { nodes: pools.blue.servers, backend: pools.blue.backend }, green: { nodes: pools.green.servers, backend: pools.green.backend } },
              map: { file: haproxy.mapFile! },
              shadow: { url: haproxy.shadowUrl! },
              smoke: { checks: [{ name: 'home', path: '/', expectStatus: 200, bodyContains: 'hello from' }] },
              watch: { duration: '5s', interval: '250ms' },
              keepWarm: '10m',
            },
          }
        : {}),
      ...o.environment,
    };
    // The orchestrator's definitions directory: the worker reads the definition at each deployment's start.
    const environmentsDir = path.join(o.dir, 'environments');
    const envFile = path.join(environmentsDir, `${o.name}.yaml`);
    const define = async (patch: Record<string, unknown> = {}) => {
      await writeFile(envFile, stringify({ ...environment, ...patch }));
      return o.name;
    };
    await mkdir(environmentsDir, { recursive: true });
    await define();

    const clientEnv = { ...process.env, ...codecEnv, TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_NAMESPACE: 'default', GANTRY_TASK_QUEUE: o.taskQueue };
    const spawnGantry = (logName: string, args: string[], extraEnv: Record<string, string> = {}): ManagedProcess => {
      const proc = startProcess(process.execPath, ['--import', 'tsx', CLI, ...args], { logFile: path.join(o.dir, logName), env: { ...clientEnv, ...extraEnv } });
      stops.push(() => proc.stop());
      return proc;
    };
    const spawnAgent = (id: string) => spawnGantry(`agent-${id}.log`, ['agent', '--config', nodeConfigFile(id)], o.agentEnv);
    const agents = new Map(nodes.map((n) => [n.id, spawnAgent(n.id)]));
    const spawnWorker = () => spawnGantry('worker.log', ['worker'], { GANTRY_MIRRORS_DIR: path.join(o.dir, 'mirrors'), GANTRY_ENVIRONMENTS: environmentsDir, ...o.workerEnv });
    let worker = spawnWorker();
    const started = [worker, ...agents.values()];
    // Workers log "running" once they poll; the orchestrator bundles its workflows first.
    const ready = await waitUntil(async () => {
      const logs = await Promise.all(started.map((p) => p.logTail(200)));
      return started.some((p) => p.exited()) || logs.every((l) => l.includes('running"'));
    }, 90_000, 250);
    const dead = started.find((p) => p.exited());
    if (!ready || dead) throw new Error(`a Gantry process did not start (${(dead ?? started[0]!).logFile}):\n${await (dead ?? started[0]!).logTail()}`);

    return {
      name: o.name,
      envFile,
      environmentsDir,
      define,
      nodeConfigFile,
      nodeRoot,
      taskQueue: o.taskQueue,
      temporalAddress,
      uiUrl: devServer?.uiUrl,
      haproxy,
      repo,
      nodeIds: nodes.map((n) => n.id),
      async restartAgent(id, afterMs = 0) {
        const agent = agents.get(id);
        if (!agent) throw new Error(`no agent ${id}`);
        await kill(agent);
        if (afterMs > 0) await sleep(afterMs);
        agents.set(id, spawnAgent(id));
      },
      async killNode(id) {
        const agent = agents.get(id);
        if (!agent) throw new Error(`no agent ${id}`);
        await kill(agent);
        const record = await readFile(path.join(nodeRoot(id), 'app.json'), 'utf8').then((text) => JSON.parse(text) as { pid?: number }, (): { pid?: number } => ({}));
        if (record.pid) {
          try {
            process.kill(-record.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      },
      startAgent(id) {
        agents.set(id, spawnAgent(id));
      },
      async restartWorker(afterMs = 0) {
        await kill(worker);
        if (afterMs > 0) await sleep(afterMs);
        worker = spawnWorker();
      },
      async restartTemporal(downMs) {
        if (!devServer) throw new Error('this stack uses a Temporal server it did not start');
        const port = Number(devServer.address.split(':')[1]);
        const uiPort = Number(new URL(devServer.uiUrl).port);
        await kill(devServer.process);
        await sleep(downMs);
        devServer = await startDevServer({ ...devServerOptions!, port, uiPort });
      },
      ...(artifacts ? { artifacts } : {}),
      clientEnv,
      ...(codecKeys ? { codecKeys } : {}),
      ...(codecServer ? { codecServer } : {}),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
