// Fan-out at scale on a simulated fleet (per-node task queues, simulated restarts and health waits,
// the in-process load balancer): histories stay small, every node ends on the new release exactly
// once, and continue-as-new between batches keeps a deployment — and its rollback — correct.
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../lib/core/logger';
import { startDevServer, type DevServer } from '../devkit/local/temporal-dev-server';
import { simLoadBalancers, startSimStack, type SimRunOptions, type SimStack } from '../devkit/sim/stack';
import { createOrchestratorWorker, type OrchestratorWorkers } from '../workers/orchestrator';
import { NativeConnection } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';

const logger = createLogger('scale-test', 'warn');
// The workflows' own log lines (one per step, hundreds here) stay out of the test output.
Runtime.install({ logger: new DefaultLogger('ERROR') });
const delays = { stageMs: 10, restartMs: 100, healthMs: 100 };

interface Running {
  stack: SimStack;
  worker: OrchestratorWorkers;
  done: Promise<void>;
  native: NativeConnection;
  dir: string;
}

async function startRun(address: string, options: Partial<SimRunOptions> & { nodeCount: number; batchSize: number }): Promise<Running> {
  const suffix = randomUUID().slice(0, 8);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-scale-'));
  const taskQueue = `gantry-scale-${suffix}`;
  const stack = await startSimStack({ address, dir, name: `s-${suffix}`, delays, drainMs: 100, pollMs: 50, taskQueue, ...options });
  const native = await NativeConnection.connect({ address });
  const worker = await createOrchestratorWorker({ connection: native, namespace: 'default', taskQueue, logger, environmentsDir: stack.environmentsDir, loadBalancer: simLoadBalancers(100, () => stack.env.nodes.map((n) => n.id)) });
  return { stack, worker, native, dir, done: worker.run() };
}

async function stopRun(run: Running | undefined): Promise<void> {
  if (!run) return;
  run.worker.shutdown();
  await run.done;
  await run.stack.stop();
  await run.native.close();
  await rm(run.dir, { recursive: true, force: true });
}

describe('fan-out on a simulated fleet of 60 nodes', () => {
  let run: Running;
  beforeAll(async () => {
    run = await startRun(inject('temporalAddress'), { nodeCount: 60, batchSize: 10 });
  });
  afterAll(() => stopRun(run));

  it('deploys every node once and keeps every history small: batches and groups are children', async () => {
    const { outcome } = await run.stack.deploy('v2');
    expect(outcome.status, outcome.error).toBe('live');
    expect(run.stack.fleet.nodes.every((n) => n.release === 'v2' && n.activations === 1)).toBe(true);
    expect(outcome.nodes!.every((n) => n.release === 'v2' && n.lb === 'ready')).toBe(true);

    const stats = await run.stack.history();
    console.log('history events (60 nodes, batch 10):', JSON.stringify(stats));
    // One node child per node, 6 batch children, 3 probe, 3 stage and 3 read-back groups of up to 25 nodes.
    expect(stats.children).toBe(60 + 6 + 3 + 3 + 3);
    expect(stats.parentRuns).toHaveLength(1);
    // Were the node children in the parent, it would hold over 60 × 4 events of them alone.
    expect(stats.parentRuns[0]).toBeLessThan(200);
    expect(stats.largestChild.events).toBeLessThan(200);
  });
});

describe('continue-as-new between batches (server suggests it after 50 events)', () => {
  let server: DevServer;
  let serverDir: string;
  let run: Running;
  beforeAll(async () => {
    serverDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-can-'));
    server = await startDevServer({ temporalPath: inject('temporalPath'), dir: serverDir, extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=50'] });
    run = await startRun(server.address, { nodeCount: 30, batchSize: 2, healthDeadlineMs: 1_500, unhealthy: { release: 'v3', nodes: ['n0030'] } });
  });
  afterAll(async () => {
    await stopRun(run);
    await server?.stop();
    await rm(serverDir, { recursive: true, force: true });
  });

  it('goes on in new runs and ends live, every node changed exactly once, still findable by its search attributes', async () => {
    const { outcome } = await run.stack.deploy('v2');
    expect(outcome.status, outcome.error).toBe('live');
    expect(run.stack.fleet.nodes.every((n) => n.release === 'v2' && n.activations === 1)).toBe(true);
    const stats = await run.stack.history();
    expect(stats.parentRuns.length).toBeGreaterThan(2);

    const handle = run.stack.client.workflow.getHandle(`deploy/${run.stack.env.name}`);
    const described = await handle.describe();
    expect(described.searchAttributes).toMatchObject({ GantryPhase: ['live'], GantryRelease: ['v2'], GantryEnvironment: [run.stack.env.name] });
    const status = await handle.query<{ events: { what: string }[] }>('status');
    expect(status.events.filter((e) => e.what.startsWith('continuing as a new run')).length).toBe(stats.parentRuns.length - 1);
    expect(status.events.some((e) => e.what.startsWith('preflight passed'))).toBe(true);
  });

  it('a failure in a later run rolls back the nodes earlier runs changed', async () => {
    const { outcome } = await run.stack.deploy('v3');
    expect(outcome.status, outcome.error).toBe('rolled-back');
    expect(outcome.cause).toMatchObject({ node: 'n0030' });
    expect(run.stack.fleet.nodes.map((n) => n.release)).toEqual(run.stack.fleet.nodes.map(() => 'v2'));
    expect(outcome.nodes!.every((n) => n.release === 'v2' && n.lb === 'ready')).toBe(true);
    const v3Runs = (await run.stack.history()).parentRuns.length;
    expect(v3Runs).toBeGreaterThan(3);
  });
});
