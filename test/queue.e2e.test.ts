// The environment's queue on the real stack: webhook pushes coalescing under latest-wins, a lock that
// holds the webhook but never a rollback, the lock a rollback sets by itself, and `gantry why`
// naming each condition that holds the next deployment in turn.
import { createHmac, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { awaitOutcome, awaitStart, enqueue } from '../client/deployments';
import { controlQueue, readQueue } from '../client/queue';
import { why, type WhyAnswer } from '../client/why';
import { prepareDeployment, startDeployment } from '../cli/commands/deploy';
import { startProcess, type ManagedProcess } from '../devkit/local/child-process';
import { freePort } from '../devkit/local/ports';
import { waitUntil } from '../lib/core/wait';
import { abortUpdate, approveUpdate, deploymentWorkflowId, statusQuery, type EnqueueAnswer, type QueueStatus } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { expectInvariant, servedReleases } from './helpers/invariant';
import { startGithubApi } from './helpers/github-api';
import { startReceiver } from './helpers/receivers';
import { startTestStack, type TestStack } from './helpers/stack';
import { loadEnvironmentFile } from '../lib/config/environment-file';

const SECRET = 'queue-webhook-secret';
const CLI = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
const PUSHED = Array.from({ length: 10 }, (_, i) => `v${i + 2}`);
const LATER = ['v12', 'v13', 'v14', 'v15'];
const BROKEN = 'v16';
const BATCH = ['v17', 'v18', 'v19'];

let stack: TestStack;
let webhook: ManagedProcess;
let url: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let github: Awaited<ReturnType<typeof startGithubApi>>;

const sha = (release: string) => stack.repo.releases[release]!.sha256;
const everyNode = (release: string) => Object.fromEntries(stack.nodeIds.map((id) => [id, release]));
const gantry = (...args: string[]) => runGantry(args, stack.clientEnv);
const queueNow = async () => (await readQueue(stack.client, stack.name))!;
const notices = (event: string) => receiver.deliveries.map((d) => d.body).filter((b) => b.event === event);
const request = (release: string, requestedBy = 'test') => prepareDeployment(stack.name, release, { sha256: sha(release), requestedBy, taskQueue: stack.taskQueue });
const deployment = () => stack.client.workflow.getHandle(deploymentWorkflowId(stack.name));
const notify = { notifications: { channels: [{ type: 'webhook', url: { fromEnv: 'QUEUE_RECEIVER_URL' }, events: ['superseded', 'locked'] }] } };

async function push(tag: string, sender = 'alice') {
  const body = Buffer.from(
    JSON.stringify({ ref: `refs/tags/${tag}`, before: '0'.repeat(40), after: stack.repo.releases[tag]!.commit, created: true, deleted: false, repository: { full_name: 'acme/shop' }, sender: { login: sender } }),
  );
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-github-delivery': randomUUID(), 'x-hub-signature-256': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}` },
    body,
  });
  return { status: response.status, body: (await response.json()) as { request?: string; runId?: string; queued?: boolean; hold?: EnqueueAnswer['hold']; error?: string } };
}

async function whyNow(): Promise<WhyAnswer> {
  const run = await gantry('why', stack.name, '--json');
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as WhyAnswer;
}

/** Waits for the running deployment to reach `phase` (its status query answers once a worker has it). */
const reachPhase = (phase: string) => waitUntil(async () => (await deployment().query(statusQuery).catch(() => undefined))?.phase === phase, 60_000, 100);

describe('the queue of an environment', () => {
  beforeAll(async () => {
    [receiver, github] = await Promise.all([startReceiver('record'), startGithubApi()]);
    stack = await startTestStack({
      releases: ['v1', ...PUSHED, ...LATER, { release: BROKEN, unhealthyOn: ['web-2'] }, ...BATCH],
      workerEnv: { QUEUE_RECEIVER_URL: receiver.url, QUEUE_TEST_GITHUB_TOKEN: 'test-token' },
    });
    for (const release of Object.values(stack.repo.releases)) await writeFile(`${release.file}.sha256`, `${release.sha256}  ${path.basename(release.file)}\n`);
    const config = path.join(stack.dir, 'webhook.yaml');
    const artifacts = path.dirname(stack.repo.releases.v1!.file);
    await writeFile(config, stringify({ secret: { fromEnv: 'GITHUB_WEBHOOK_SECRET' }, routes: [{ repository: 'acme/shop', event: 'push', environment: stack.name, tagPattern: 'v*', sha256: `file://${artifacts}/app-{release}.tgz.sha256` }] }));
    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    webhook = startProcess(process.execPath, ['--import', 'tsx', CLI, 'webhook', '--config', config, '--port', String(port)], {
      logFile: path.join(stack.dir, 'webhook.log'),
      env: { ...stack.clientEnv, GITHUB_WEBHOOK_SECRET: SECRET },
    });
    const first = await awaitOutcome(await startDeployment(stack.client, stack.name, 'v1', { sha256: sha('v1'), requestedBy: 'setup', taskQueue: stack.taskQueue }));
    expect(first.status).toBe('live');
    const up = await waitUntil(async () => (await fetch(url, { method: 'POST', headers: { 'x-github-event': 'ping' }, body: '{}' }).catch(() => undefined)) !== undefined, 30_000, 200);
    expect(up, await webhook.logTail()).toBe(true);
  });
  afterAll(async () => {
    await webhook?.stop();
    await stack?.close();
    await receiver?.close();
    await github?.close();
  });

  it('latest-wins: 10 webhook pushes within 5 s leave one deployment running and one pending, the newest; every superseded one is in gantry status and a notification', async () => {
    await stack.define({ queue: { policy: 'latest-wins', lockOnRollback: false }, approval: { approvers: ['bob'], timeout: '10m' }, ...notify });
    const t0 = Date.now();
    const answers = [];
    for (const tag of PUSHED) answers.push(await push(tag));
    // One after another, as GitHub delivers them (about 2 s on an idle machine; the figure is the bench's, not this test's).
    console.log(`10 pushes answered in ${Date.now() - t0} ms`);
    expect(answers[0]).toMatchObject({ status: 201, body: { request: 'r2' } });
    for (const a of answers.slice(1)) expect(a).toMatchObject({ status: 202, body: { queued: true } });

    const q = await queueNow();
    expect(q.running).toMatchObject({ release: 'v2' });
    expect(q.pending.map((p) => p.release)).toEqual(['v11']);
    expect(q.pending[0]!.requesters).toEqual(['github:alice']);
    const superseded = PUSHED.slice(1, -1);
    expect(q.superseded.map((s) => s.release)).toEqual(superseded);
    q.superseded.forEach((s, i) => expect(s.by.release).toBe(PUSHED[i + 2]));

    const status = await gantry('status', stack.name, '--json');
    expect(status.code, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { queue: QueueStatus }).queue.superseded.map((s) => s.release)).toEqual(superseded);
    const text = await gantry('status', stack.name);
    for (const release of superseded) expect(text.stdout).toContain(`superseded r${Number(release.slice(1))} ${release}`);
    expect(await waitUntil(() => Promise.resolve(notices('superseded').length === superseded.length), 20_000, 100)).toBe(true);
    expect(notices('superseded').map((n) => n.release)).toEqual(superseded);
    expect(notices('superseded')[0]).toMatchObject({ environment: stack.name, reason: expect.stringContaining('superseded by v4') as unknown });

    // v2 waits for bob; the newest then goes out, and only it.
    expect(await reachPhase('awaiting-approval')).toBe(true);
    expect((await why(stack.client, stack.name)).kind).toBe('approval');
    await deployment().executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'the newest one is waiting' }] });
    const next = await awaitStart(stack.client, stack.name, q.pending[0]!.id);
    expect(await waitUntil(async () => (await next.query(statusQuery).catch(() => undefined))?.phase === 'awaiting-approval', 60_000, 100)).toBe(true);
    await next.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    const outcome = await awaitOutcome(next);
    expect(outcome).toMatchObject({ status: 'live', release: 'v11' });
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(everyNode('v11'));
    expect((await queueNow()).finished.map((f) => [f.release, f.status])).toEqual(expect.arrayContaining([['v2', 'aborted'], ['v11', 'live']]));
  });

  it('a lock holds the webhook but not gantry rollback; unlocking starts what waited; only the control list may lift it', async () => {
    await stack.define({ control: { allowed: ['carol', '@requester'] } });
    const locked = await gantry('lock', stack.name, '--reason', 'database maintenance', '--for', '1h', '--as', 'carol', '--json');
    expect(locked.code, locked.stderr).toBe(0);
    expect((JSON.parse(locked.stdout) as QueueStatus).lock).toMatchObject({ by: 'carol', reason: 'database maintenance', automatic: false });

    const pushed = await push('v12');
    expect(pushed).toMatchObject({ status: 202, body: { queued: true, hold: { kind: 'lock' } } });
    expect(pushed.body.hold!.what).toContain('locked by carol');
    const held = await whyNow();
    expect(held).toMatchObject({ kind: 'lock', request: { release: 'v12' } });
    expect(held.what).toContain('database maintenance');
    expect(held.clears).toContain(`gantry unlock ${stack.name}`);

    // The way out is never locked.
    const rollback = await gantry('rollback', stack.name, '--wait', '--json', '--requested-by', 'carol');
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(JSON.parse(rollback.stdout)).toMatchObject({ status: 'live', release: 'v1' });
    const env = await loadEnvironmentFile(stack.envFile);
    expect(await servedReleases(env)).toEqual(everyNode('v1'));
    expect((await queueNow()).pending.map((p) => p.release)).toEqual(['v12']);

    const stranger = await gantry('unlock', stack.name, '--as', 'mallory');
    expect(stranger.code).toBe(4);
    expect(stranger.stderr).toContain(`mallory may not unlock ${stack.name} (control.allowed: carol)`);
    expect((await queueNow()).lock).toMatchObject({ by: 'carol' });
    const unlocked = await gantry('unlock', stack.name, '--as', 'carol');
    expect(unlocked.code, unlocked.stderr).toBe(0);
    const started = await awaitStart(stack.client, stack.name, pushed.body.request!);
    const outcome = await awaitOutcome(started);
    expect(outcome).toMatchObject({ status: 'live', release: 'v12' });
    await expectInvariant(env, outcome.nodes!);
  });

  it('a deployment that rolls back locks the environment by itself, tells the team, and gantry why names the cause', async () => {
    await stack.define({ queue: { lockOnRollback: true }, ...notify });
    const outcome = await awaitOutcome(await startDeployment(stack.client, stack.name, BROKEN, { sha256: sha(BROKEN), requestedBy: 'dave', taskQueue: stack.taskQueue }));
    expect(outcome.status).toBe('rolled-back');
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(everyNode('v12'));
    const q = await queueNow();
    expect(q.lock).toMatchObject({ by: 'gantry', automatic: true, expiresAt: null });
    expect(q.lock!.reason).toContain(`${BROKEN} failed and rolled back`);
    expect(await waitUntil(() => Promise.resolve(notices('locked').length === 1), 20_000, 100)).toBe(true);
    expect(notices('locked')[0]).toMatchObject({ release: BROKEN, reason: q.lock!.reason });

    const answer = await enqueue(stack.client, request('v13'));
    expect(answer).toMatchObject({ status: 'queued', position: 1, hold: { kind: 'lock' } });
    const held = await why(stack.client, stack.name);
    expect(held.kind).toBe('lock');
    expect(held.what).toContain('automatically, after a rollback');
    expect(held.what).toContain(`${BROKEN} failed and rolled back`);
    // Cleared for the next test: v13 waits on.
    await stack.define({ windows: [{ cron: '0 0 1 1 *', duration: '1m', timezone: 'UTC' }] });
    await controlQueue(stack.client, stack.name, stack.taskQueue, { action: 'unlock', payload: { by: 'dave' } });
  });

  it('gantry why names a window, a freeze, a pending approval, a running deployment and a pending CI check in turn', async () => {
    // The window (only on 1 January at midnight) holds v13.
    expect(await waitUntil(async () => (await why(stack.client, stack.name)).kind === 'window', 20_000, 100)).toBe(true);
    const window = await whyNow();
    expect(window).toMatchObject({ kind: 'window', request: { release: 'v13' } });
    expect(window.what).toContain('0 0 1 1 * for 1 min (UTC)');
    expect(window.until).toMatch(/-01-01T00:00:00.000Z$/);

    const frozen = await gantry('freeze', stack.name, '--for', '1h', '--reason', 'year-end sales', '--as', 'erin');
    expect(frozen.code, frozen.stderr).toBe(0);
    const freeze = await whyNow();
    expect(freeze).toMatchObject({ kind: 'freeze' });
    expect(freeze.what).toContain('frozen by erin');
    expect(freeze.what).toContain('year-end sales');
    expect(freeze.clears).toContain(`gantry unfreeze ${stack.name}`);

    // No window, an approval: unfreezing lets v13 start, and it waits for bob.
    await stack.define({ approval: { approvers: ['bob'], timeout: '10m' } });
    // With approvers named, the control list is closed: erin may no longer lift it, an approver may.
    expect((await gantry('unfreeze', stack.name, '--as', 'erin')).code).toBe(4);
    expect((await gantry('unfreeze', stack.name, '--as', 'bob')).code).toBe(0);
    const v13 = await awaitStart(stack.client, stack.name, (await queueNow()).pending[0]?.id ?? (await queueNow()).running!.id);
    expect(await reachPhase('awaiting-approval')).toBe(true);
    const approval = await whyNow();
    expect(approval).toMatchObject({ kind: 'approval', request: { release: 'v13' } });
    expect(approval.what).toContain('1 more needed');
    expect(approval.clears).toContain(`gantry approve ${stack.name}`);

    // v14 will need its CI check, still pending on its commit (v13 runs under the definition it started with).
    const commit = stack.repo.releases.v14!.commit;
    github.script.set(commit, [{ statuses: [], checkRuns: [{ id: 1, name: 'build', status: 'in_progress', conclusion: null }] }]);
    await stack.define({ ci: { provider: 'github', repository: 'acme/shop', apiUrl: github.url, requiredChecks: ['build'], tokenEnv: 'QUEUE_TEST_GITHUB_TOKEN', pollInterval: '200ms', deadline: '5m' } });
    // Approved, v13 rolls out: what holds v14 is the deployment running.
    const v14 = await enqueue(stack.client, request('v14'));
    expect(v14).toMatchObject({ status: 'queued', position: 1, hold: { kind: 'running' } });
    await v13.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    const running = await why(stack.client, stack.name);
    expect(running).toMatchObject({ kind: 'running', request: { release: 'v14' } });
    expect(running.what).toContain('is deploying v13');
    expect((await awaitOutcome(v13)).status).toBe('live');

    const checking = await awaitStart(stack.client, stack.name, v14.id);
    expect(await waitUntil(async () => (await why(stack.client, stack.name)).kind === 'checks', 30_000, 200)).toBe(true);
    const checks = await whyNow();
    expect(checks.what).toContain(`commit ${commit}`);
    expect(checks.what).toContain('build');
    await checking.executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'test over' }] });
    expect((await awaitOutcome(checking)).status).toBe('aborted');
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(everyNode('v13'));
  });

  it('batch takes the newest green release and covers the older ones; a newer pending one waits, a failing one is left out', async () => {
    const green = { statuses: [], checkRuns: [{ id: 1, name: 'build', status: 'completed' as const, conclusion: 'success' }] };
    const pending = { statuses: [], checkRuns: [{ id: 1, name: 'build', status: 'in_progress' as const, conclusion: null }] };
    const commit = (r: string) => stack.repo.releases[r]!.commit;
    github.script.set(commit('v17'), [green]);
    github.script.set(commit('v18'), [green]);
    github.script.set(commit('v19'), [pending]);
    const ci = { provider: 'github', repository: 'acme/shop', apiUrl: github.url, requiredChecks: ['build'], tokenEnv: 'QUEUE_TEST_GITHUB_TOKEN', pollInterval: '200ms', deadline: '5m' };
    await stack.define({ queue: { policy: 'batch', maxChanges: 5, lockOnRollback: false }, ci });
    // Held by a lock while three changes arrive, from three people.
    await controlQueue(stack.client, stack.name, stack.taskQueue, { action: 'lock', payload: { by: 'test', reason: 'collecting a batch' } });
    const ids = [];
    for (const [i, release] of BATCH.entries()) ids.push((await enqueue(stack.client, request(release, ['ann', 'ben', 'cat'][i]))).id);
    await controlQueue(stack.client, stack.name, stack.taskQueue, { action: 'unlock', payload: { by: 'test' } });

    const started = await awaitStart(stack.client, stack.name, ids[0]!);
    const running = (await queueNow()).running!;
    expect(running).toMatchObject({ release: 'v18', requesters: ['ann', 'ben'] });
    expect(running.covers.map((c) => [c.release, c.requestedBy])).toEqual([['v17', 'ann'], ['v18', 'ben']]);
    expect((await awaitOutcome(started)).status).toBe('live');
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(everyNode('v18'));
    // v19 is newer but not green: it waits, and says so.
    expect(await waitUntil(async () => (await queueNow()).hold?.kind === 'checks', 20_000, 100)).toBe(true);
    expect((await whyNow()).what).toContain('no waiting release is green yet (v19 pending CI)');
    // Its check fails: it is left out, recorded as ended, and nothing else starts.
    github.script.set(commit('v19'), [{ statuses: [], checkRuns: [{ id: 1, name: 'build', status: 'completed', conclusion: 'failure' }] }]);
    expect(await waitUntil(async () => (await queueNow()).pending.length === 0, 20_000, 100)).toBe(true);
    expect((await queueNow()).finished.at(-1)).toMatchObject({ id: ids[2], release: 'v19', status: 'failed', error: expect.stringContaining('check "build" failed on commit') as unknown });
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(everyNode('v18'));
  });
});
