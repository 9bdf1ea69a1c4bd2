// Blue-green (issue 17) on real HAProxy and real agents: two pools of two nodes, each its own backend;
// a map routes users and the shadow address. Load runs through HAProxy while releases switch and switch back.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import type { LoadReport } from '../devkit/local/load';
import { startLoad } from '../devkit/local/load';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { waitUntil } from '../lib/core/wait';
import { HaproxyClient, lbState } from '../lib/lb/haproxy';
import { statusQuery, warmStatusQuery, warmWorkflowId } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { startReceiver } from './helpers/receivers';
import { startTestStack, type TestStack } from './helpers/stack';

const run = promisify(execFile);
let stack: TestStack;
let hook: Awaited<ReturnType<typeof startReceiver>>;
let env: Environment;
let haproxy: HaproxyClient;
let strategy: Record<string, unknown>;

const BLUE = ['web-1', 'web-2'];
const GREEN = ['web-3', 'web-4'];

const deploy = (release: string) => startDeployment(stack.client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue });
/** Each server's state in its pool's backend. */
const lbStates = async () => Object.fromEntries((await haproxy.showStat()).filter((s) => s.backend.startsWith('app_')).map((s) => [s.server, lbState(s.status)]));
const releasesAfter = (report: LoadReport, from: number, to = Infinity) => [...new Set(report.samples.filter((s) => s.start >= from && s.start < to).map((s) => s.release ?? `status ${s.status}`))];
const answer = async () => ((await (await fetch(stack.haproxy.url)).json()) as { release: string }).release;
const redefine = (patch: Record<string, unknown>) => stack.define({ strategy: { ...strategy, ...patch } });
const switchBack = () => runGantry(['switch-back', stack.name, '--as', 'bob', '--reason', 'test', '--json'], stack.clientEnv);

/** What each node's app answers directly (null: no app answers). */
async function servedReleases(environment: Environment): Promise<Record<string, string | null>> {
  const ask = (address: string) => fetch(`http://${address}/`).then(async (r) => ((await r.json()) as { release: string }).release, () => null);
  return Object.fromEntries(await Promise.all(environment.nodes.map(async (n) => [n.id, await ask(n.address)] as const)));
}

/** One live pool, each of its servers ready and serving `release`; every server of the other pool out of rotation. */
async function expectPools(live: string[], release: string, idle: string[]): Promise<void> {
  const states = await lbStates();
  const served = await servedReleases(env);
  for (const id of live) {
    expect(states[id], `${id} in HAProxy`).toBe('ready');
    expect(served[id], `${id} serves`).toBe(release);
  }
  for (const id of idle) expect(states[id], `${id} in HAProxy`).toBe('maint');
}

describe('blue-green', () => {
  beforeAll(async () => {
    hook = await startReceiver('record');
    stack = await startTestStack({
      blueGreen: true,
      nodeCount: 4,
      releases: ['v1', 'v2', { release: 'v3', failsRequests: true }],
      workerEnv: { HOOK_URL: hook.url },
      environment: { notifications: { channels: [{ type: 'webhook', url: { fromEnv: 'HOOK_URL' }, events: ['switched', 'switched-back'] }] } },
    });
    env = await loadEnvironmentFile(stack.envFile);
    haproxy = new HaproxyClient(env.loadBalancer.socket);
    strategy = { ...(env.strategy as Record<string, unknown>) };
    // A fresh fleet: blue is live and runs nothing, so v1 goes to green and the switch makes it live.
    const first = await awaitOutcome(await deploy('v1'));
    expect(first.status, first.error).toBe('live');
    expect(first.pools).toMatchObject({ live: 'green', target: 'green' });
    expect(await answer()).toBe('v1');
  });
  afterAll(async () => {
    await stack?.close();
    await hook?.close();
  });

  it('switches users from v1 to v2 at once, and back with gantry switch-back after the deployment ended, with zero failed requests', async () => {
    const load = startLoad(stack.haproxy.url, { clients: 4, pauseMs: 5, maxMs: 120_000 });
    const outcome = await awaitOutcome(await deploy('v2'));
    expect(outcome.status, outcome.error).toBe('live');
    const pools = outcome.pools!;
    expect(pools).toMatchObject({ live: 'blue', target: 'blue' });
    expect(pools.smoke).toEqual([expect.objectContaining({ name: 'home', passed: true, status: 200 })]);
    expect(pools.watch).toMatchObject({ http5xx: 0, connectionErrors: 0 });
    // keepWarm (10m) counts from the end of the 5 s watch.
    const warmFor = Date.parse(pools.warmUntil!) - Date.parse(pools.watch!.until);
    expect(warmFor).toBeGreaterThanOrEqual(600_000);
    expect(warmFor).toBeLessThan(605_000);
    const switchedAt = Date.parse(pools.switchedAt!);
    // Blue serves v2; green, warm, still runs v1 in its own backend (reached only through the shadow address).
    expect(await servedReleases(env)).toEqual({ 'web-1': 'v2', 'web-2': 'v2', 'web-3': 'v1', 'web-4': 'v1' });
    const shadow = ((await (await fetch(stack.haproxy.shadowUrl!)).json()) as { release: string }).release;
    expect(shadow).toBe('v1');

    const asked = Date.now();
    const back = await switchBack();
    const answered = Date.now();
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ live: 'green', release: 'v1', via: 'warm-pool' });
    await new Promise((r) => setTimeout(r, 1_000));
    const report = await load.stop();

    expect(report.errors, report.failures.slice(0, 5).join('; ')).toBe(0);
    expect(report.non200, report.failures.slice(0, 5).join('; ')).toBe(0);
    expect(report.sent).toBeGreaterThan(1_000);
    expect(releasesAfter(report, switchedAt, asked)).toEqual(['v2']);
    expect(releasesAfter(report, answered)).toEqual(['v1']);
    console.log(`blue-green switch and switch-back under load: ${report.sent} requests, ${report.non200} non-2xx, ${report.errors} connection errors; gantry switch-back answered in ${answered - asked} ms`);
    // The warm period ended by switching back; it stops the pool it left.
    const warm = stack.client.workflow.getHandle(warmWorkflowId(stack.name));
    const ended = (await warm.result()) as { state: string; by: string; stopFailures?: unknown };
    expect(ended).toMatchObject({ state: 'switched-back', by: 'bob' });
    expect(ended.stopFailures).toBeUndefined();
    await expectPools(GREEN, 'v1', BLUE);
  });

  it('keeps the routing through an HAProxy restart: the map file says which pool is live', async () => {
    await stack.haproxy.restart();
    const entries = await haproxy.showMap(stack.haproxy.mapFile!);
    expect(entries).toEqual({ live: 'app_green', shadow: 'app_blue' });
    // A restart without a server-state file puts every server back to its config state (disabled); bring green back.
    for (const id of GREEN) await haproxy.setServerState('app_green', id, 'ready');
    expect(await waitUntil(async () => (await answer().catch(() => '')) === 'v1', 10_000, 100)).toBe(true);
  });

  it('does not switch when a smoke test fails: the live pool is untouched, the idle pool stopped, the result names the check and its answer', async () => {
    await redefine({ smoke: { checks: [{ name: 'reports-v9', path: '/', json: { field: 'release', equals: 'v9' } }] } });
    const load = startLoad(stack.haproxy.url, { clients: 2, pauseMs: 10, maxMs: 120_000 });
    const handle = await deploy('v2');
    const outcome = await awaitOutcome(handle);
    const report = await load.stop();
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.cause).toMatchObject({ step: 'smoke-test' });
    // The Temporal UI's current details lead with the pools and each smoke test.
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('pools: **green** live (app_green), release to blue');
    expect(metadata.currentDetails).toContain('- smoke reports-v9: failed: release is "v2", expected "v9" (200,');
    expect(outcome.error).toContain('smoke test reports-v9 failed');
    expect(outcome.error).toContain('release is "v2", expected "v9"');
    expect(outcome.pools!.smoke[0]).toMatchObject({ name: 'reports-v9', passed: false, status: 200 });
    expect(outcome.pools!.switchedAt).toBeUndefined();
    expect(report.errors + report.non200).toBe(0);
    expect(releasesAfter(report, 0)).toEqual(['v1']);
    await expectPools(GREEN, 'v1', BLUE);
    expect(await servedReleases(env)).toMatchObject({ 'web-1': null, 'web-2': null });
  });

  it('switches back by itself when the new pool answers 5xx during the watch, and says why', async () => {
    // v3 passes its health checks and the smoke test of /healthz, but answers users with 500s.
    await redefine({ smoke: { checks: [{ name: 'health', path: '/healthz' }] }, watch: { duration: '20s', interval: '250ms' } });
    const load = startLoad(stack.haproxy.url, { clients: 2, pauseMs: 10, maxMs: 120_000 });
    const outcome = await awaitOutcome(await deploy('v3'));
    const report = await load.stop();
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.cause).toMatchObject({ step: 'watch' });
    expect(outcome.error).toMatch(/switched back to green: backend app_blue gave \d+ 5xx answers/);
    const pools = outcome.pools!;
    expect(pools.live).toBe('green');
    expect(pools.switchedBack?.why).toContain('watch:');
    // Users saw v3's errors only between the switch and the switch back.
    const back = Date.parse(pools.switchedBack!.at);
    expect(releasesAfter(report, back + 50)).toEqual(['v1']);
    // The team heard of both: the switch to v3, then the switch back with its cause.
    const notices = hook.deliveries.map((d) => d.body).filter((b) => b.release === 'v3');
    expect(notices.map((b) => b.event)).toEqual(['switched', 'switched-back']);
    expect(notices[1]!.reason).toMatch(/backend app_blue gave \d+ 5xx answers/);
    await expectPools(GREEN, 'v1', BLUE);
  });

  it('refuses a switch-back once keepWarm has passed, with the reason and the rollback to use', async () => {
    await redefine({ keepWarm: '3s' });
    const outcome = await awaitOutcome(await deploy('v2'));
    expect(outcome.status, outcome.error).toBe('live');
    const warm = stack.client.workflow.getHandle(warmWorkflowId(stack.name));
    expect((await warm.query(warmStatusQuery)).warm).toBe('green');
    expect((await warm.result()) as { state: string }).toMatchObject({ state: 'stopped' });
    const refused = await switchBack();
    expect(refused.code).toBe(4);
    expect(refused.stderr).toMatch(/cannot switch back: green stopped at .* \(keepWarm ended/);
    expect(refused.stderr).toContain(`use gantry rollback ${stack.name} --to v1`);
    await expectPools(BLUE, 'v2', GREEN);
  });

  it('aborted before the switch: the idle pool is stopped, the live pool never touched', async () => {
    await stack.define({ strategy: { ...strategy, keepWarm: '10m' }, approval: { required: true } });
    const handle = await deploy('v1');
    expect(await waitUntil(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 100)).toBe(true);
    const status = await handle.query(statusQuery);
    // The smoke tests passed through the shadow address before approval was asked.
    expect(status.pools).toMatchObject({ live: 'blue', target: 'green', smoke: [expect.objectContaining({ name: 'home', passed: true })] });
    const aborted = await runGantry(['abort', stack.name, '--as', 'bob', '--reason', 'not today'], stack.clientEnv);
    expect(aborted.code, aborted.stderr).toBe(0);
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('aborted');
    expect(outcome.pools!.switchedAt).toBeUndefined();
    await expectPools(BLUE, 'v2', GREEN);
    expect(await answer()).toBe('v2');
  });

  it('gantry switch-back during the watch switches back at once and the deployment ends aborted', async () => {
    await stack.define({ strategy: { ...strategy, watch: { duration: '60s', interval: '250ms' } } });
    const load = startLoad(stack.haproxy.url, { clients: 2, pauseMs: 10, maxMs: 120_000 });
    const handle = await deploy('v1');
    expect(await waitUntil(async () => (await handle.query(statusQuery)).phase === 'watch', 60_000, 50)).toBe(true);
    const back = await switchBack();
    const answered = Date.now();
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout)).toMatchObject({ live: 'blue', release: 'v2', via: 'deployment' });
    const outcome = await awaitOutcome(handle);
    const report = await load.stop();
    expect(outcome.status).toBe('aborted');
    expect(outcome.pools!.switchedBack?.why).toContain('aborted by bob: switch back: test');
    expect(report.errors + report.non200).toBe(0);
    expect(releasesAfter(report, answered)).toEqual(['v2']);
    await expectPools(BLUE, 'v2', GREEN);
  });

  it('takes a switch-back only from someone the control list names, signed where the environment asks for signatures', async () => {
    const keys = path.join(stack.dir, 'keys');
    await mkdir(keys, { recursive: true });
    for (const who of ['bob', 'mallory']) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', path.join(keys, who)]);
    const lines = await Promise.all(['bob', 'mallory'].map(async (who) => `${who} namespaces="gantry@${stack.name}" ${(await readFile(path.join(keys, `${who}.pub`), 'utf8')).trim()}`));
    const allowedSigners = path.join(keys, 'allowed_signers');
    await writeFile(allowedSigners, `${lines.join('\n')}\n`);
    const identity = { allowedSigners, allowedSignersSha256: createHash('sha256').update(await readFile(allowedSigners)).digest('hex') };
    await stack.define({ strategy, identity, control: { allowed: ['bob'], requireSigned: true } });
    const outcome = await awaitOutcome(await deploy('v1'));
    expect(outcome.status, outcome.error).toBe('live');
    const noAgent = { ...stack.clientEnv, SSH_AUTH_SOCK: '' };
    const attempt = (who: string, ...flags: string[]) => runGantry(['switch-back', stack.name, '--as', who, '--reason', 'test', ...flags], noAgent);

    const unsigned = await attempt('bob', '--no-sign');
    expect(unsigned.code).toBe(4);
    expect(unsigned.stderr).toContain("bob's switch-back is not signed");
    const stranger = await attempt('mallory', '--key', path.join(keys, 'mallory'));
    expect(stranger.code).toBe(4);
    expect(stranger.stderr).toContain('mallory may not switch');
    const forged = await attempt('bob', '--key', path.join(keys, 'mallory'));
    expect(forged.code).toBe(4);
    expect(forged.stderr).toMatch(/bob's signed switch-back: key SHA256:\S+ belongs to mallory, not bob; sign as yourself/);
    expect(await answer()).toBe('v1');
    const warm = await stack.client.workflow.getHandle(warmWorkflowId(stack.name)).query(warmStatusQuery);
    expect(warm.signing).toEqual({ control: true });
    const signed = await attempt('bob', '--key', path.join(keys, 'bob'), '--json');
    expect(signed.code, signed.stderr).toBe(0);
    expect(JSON.parse(signed.stdout)).toMatchObject({ live: warm.warm, release: warm.warmRelease });
    expect(await answer()).toBe(warm.warmRelease);
  });
});
