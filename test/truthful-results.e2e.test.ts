// Truthful results (issue 16): what a result says about each node is read back from its agent and from
// HAProxy at the end; a server an operator had in MAINT stays there (and is reported); an HAProxy that
// lost its runtime state mid-deployment (restarted: every server back to its config state) is put
// right again, and the event log says so.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { exitCodeOf, startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { waitUntil } from '../lib/core/wait';
import { HaproxyClient, lbState } from '../lib/lb/haproxy';
import { statusQuery } from '../workflows/api';
import { servedReleases } from './helpers/invariant';
import { startTestStack, type TestStack } from './helpers/stack';

let stack: TestStack;
let env: Environment;
let haproxy: HaproxyClient;

const deploy = (release: string) => startDeployment(stack.client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue });
const lbStates = async () => Object.fromEntries((await haproxy.showStat()).filter((s) => s.backend === env.loadBalancer.backend).map((s) => [s.server, lbState(s.status)]));

describe('truthful results', () => {
  beforeAll(async () => {
    stack = await startTestStack();
    env = await loadEnvironmentFile(stack.envFile);
    haproxy = new HaproxyClient(env.loadBalancer.socket);
    expect((await awaitOutcome(await deploy('v1'))).status).toBe('live');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("leaves a server an operator put in MAINT in MAINT, on the new release, and says so", async () => {
    await haproxy.setServerState(env.loadBalancer.backend, 'web-3', 'maint');
    const handle = await deploy('v2');
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('live');
    expect(outcome.nodes).toEqual([
      { id: 'web-1', release: 'v2', lb: 'ready' },
      { id: 'web-2', release: 'v2', lb: 'ready' },
      { id: 'web-3', release: 'v2', lb: 'maint' },
    ]);
    expect(await lbStates()).toEqual({ 'web-1': 'ready', 'web-2': 'ready', 'web-3': 'maint' });
    expect(await servedReleases(env)).toEqual({ 'web-1': 'v2', 'web-2': 'v2', 'web-3': 'v2' });
    const events = (await handle.query(statusQuery)).events.map((e) => e.what);
    expect(events).toContain(`web-3: in MAINT before this deployment (an operator's): they get v2 and stay in MAINT`);
    expect(events).toContain('web-3: left in MAINT, where an operator had put it before the deployment');
    await haproxy.setServerState(env.loadBalancer.backend, 'web-3', 'ready');
  });

  it('puts right an HAProxy that lost its runtime state mid-deployment, and the result reads what is', async () => {
    const handle = await deploy('v3');
    expect(await waitUntil(async () => (await handle.query(statusQuery)).nodes.some((n) => n.id === 'web-1' && n.state === 'live'), 60_000, 20)).toBe(true);
    // Every server back to its config state: "disabled", as a fresh fleet starts.
    await stack.haproxy.restart();
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('live');
    expect(outcome.nodes?.map((n) => [n.id, n.release, n.lb])).toEqual([
      ['web-1', 'v3', 'ready'],
      ['web-2', 'v3', 'ready'],
      ['web-3', 'v3', 'ready'],
    ]);
    expect(await lbStates()).toEqual({ 'web-1': 'ready', 'web-2': 'ready', 'web-3': 'ready' });
    const events = (await handle.query(statusQuery)).events.map((e) => e.what);
    expect(events.some((e) => /^web-1: HAProxy had it maint, not ready .*: set ready again$/.test(e))).toBe(true);
  });

  it('reports what an agent really runs when it differs from what the deployment recorded', async () => {
    // web-2 went live on v2, then its app died before the deployment ended: the result must not say v2.
    const handle = await deploy('v2');
    expect(await waitUntil(async () => (await handle.query(statusQuery)).nodes.some((n) => n.id === 'web-2' && n.state === 'live'), 60_000, 20)).toBe(true);
    const { pid } = JSON.parse(await readFile(path.join(stack.dir, 'nodes', 'web-2', 'app.json'), 'utf8')) as { pid: number };
    process.kill(-pid, 'SIGKILL');
    const outcome = await awaitOutcome(handle);
    expect(outcome.nodes?.find((n) => n.id === 'web-2')).toEqual({ id: 'web-2', release: null, lb: expect.any(String) as string, error: 'runs nothing, not v2' });
    expect(exitCodeOf(outcome)).toBe(2);
    const events = (await handle.query(statusQuery)).events.map((e) => e.what);
    expect(events).toContain('web-2: its agent runs (nothing), not v2 as this deployment recorded');
  });
});
