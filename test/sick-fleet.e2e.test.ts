// The bad day (issue 16): a rollback needs only the fleet. It returns to what the newest live
// deployment replaced, whatever failed or was refused since; it asks neither the tag nor CI again
// (the remote may be the thing that is down) and waits for approval only when the definition says so.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome, awaitStart, enqueue } from '../client/deployments';
import { prepareDeployment, startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { sleep, waitUntil } from '../lib/core/wait';
import { abortUpdate, approveUpdate, deploymentWorkflowId, statusQuery, type DeployResult } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { activityNames } from './helpers/history';
import { expectInvariant, servedReleases } from './helpers/invariant';
import { startTestStack, type TestStack } from './helpers/stack';

const run = promisify(execFile);
let stack: TestStack;
let env: Environment;
const everyNode = (release: string) => Object.fromEntries(stack.nodeIds.map((id) => [id, release]));

describe('rollback on the bad day', () => {
  beforeAll(async () => {
    stack = await startTestStack({ releases: ['v1', 'v2', { release: 'v-bad', unhealthyOn: ['web-2'] }] });
    env = await loadEnvironmentFile(stack.envFile);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('returns to what the newest live deployment replaced, past a rolled-back one, without the tag, CI or an approval', async () => {
    const deploy = async (release: string) =>
      awaitOutcome(await startDeployment(stack.client, await stack.define({}), release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue }));
    expect((await deploy('v1')).status).toBe('live');
    expect((await deploy('v2')).status).toBe('live');
    expect((await deploy('v-bad')).status).toBe('rolled-back');
    expect(await servedReleases(env)).toEqual(everyNode('v2'));

    // The tag is gone from the remote, CI would refuse every commit, and approval is required for deployments.
    await run('git', ['-C', stack.repo.remote, 'tag', '-d', 'v1']);
    await stack.define({
      ci: { provider: 'github', repository: 'shop/app', apiUrl: 'http://127.0.0.1:9', tokenEnv: 'GANTRY_TEST_NO_TOKEN', deadline: '5s', pollInterval: '1s' },
      approval: { required: true, approvers: ['bob'], timeout: '5m' },
    });
    const rolled = await runGantry(['rollback', stack.name, '--wait', '--json', '--requested-by', 'alice'], stack.clientEnv);
    expect(rolled.code, rolled.stderr).toBe(0);
    const result = JSON.parse(rolled.stdout) as DeployResult;
    expect(result.status).toBe('live');
    expect(result.release).toBe('v1');
    await expectInvariant(env, result.nodes);
    expect(await servedReleases(env)).toEqual(everyNode('v1'));
    const names = await activityNames(stack.client, deploymentWorkflowId(stack.name), result.runId);
    expect(names).not.toContain('verifyTag');
    expect(names).not.toContain('waitForChecks');
    const status = await stack.client.workflow.getHandle(deploymentWorkflowId(stack.name), result.runId).query(statusQuery);
    expect(status.events.map((e) => e.what)).toContain('rollback to v1: a release staged by an earlier verified deployment; tag and CI checks skipped');
    expect(status.events.some((e) => e.what === 'phase awaiting-approval')).toBe(false);
  });

  it('waits for approval when the definition asks for rollback approval', async () => {
    await stack.define({ approval: { required: true, approvers: ['bob'], forRollback: true, timeout: '5m' } });
    const started = await runGantry(['rollback', stack.name, '--to', 'v2', '--requested-by', 'alice'], stack.clientEnv);
    expect(started.code, started.stderr).toBe(0);
    const handle = stack.client.workflow.getHandle(deploymentWorkflowId(stack.name));
    expect(await waitUntil(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 30_000, 50)).toBe(true);
    expect(await servedReleases(env)).toEqual(everyNode('v1'));
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('live');
    expect(await servedReleases(env)).toEqual(everyNode('v2'));
  });

  it('rolls back a fleet with a dead app and a stopped agent: the reachable nodes go back, the unreachable one is reported, and a second rollback finishes it', async () => {
    // The fleet on v2, v1 kept on every node (the earlier tests leave it so; alone, this test deploys both).
    await stack.define({});
    const alone = await servedReleases(env).then((served) => JSON.stringify(served) !== JSON.stringify(everyNode('v2')), () => true);
    for (const release of alone ? ['v1', 'v2'] : []) {
      const outcome = await awaitOutcome(await startDeployment(stack.client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue }));
      expect(outcome.status).toBe('live');
    }
    expect(await servedReleases(env)).toEqual(everyNode('v2'));
    // web-2's app dies; web-3's agent is gone for 30 s (its app keeps serving v2).
    const { pid } = JSON.parse(await readFile(path.join(stack.nodeRoot('web-2'), 'app.json'), 'utf8')) as { pid: number };
    process.kill(pid, 'SIGKILL');
    const agentLog = path.join(stack.dir, 'agent-web-3.log');
    const agentStarts = async () => ((await readFile(agentLog, 'utf8')).match(/agent running/g) ?? []).length;
    const startsBefore = await agentStarts();
    const agentBack = stack.restartAgent('web-3', 30_000);
    const started = Date.now();
    const rolled = await runGantry(['rollback', stack.name, '--to', 'v1', '--wait', '--json', '--requested-by', 'alice'], stack.clientEnv);
    const seconds = (Date.now() - started) / 1000;
    expect(rolled.code, rolled.stderr).toBe(2);
    const result = JSON.parse(rolled.stdout) as { runId: string; status: string; nodes: { id: string; release: string | null; lb: string; error?: string }[] };
    const events = (await stack.client.workflow.getHandle(deploymentWorkflowId(stack.name), result.runId).query(statusQuery)).events.map((e) => e.what);
    expect(events).toContain('web-2: unhealthy on v2; rolling it back');
    expect(result.status).toBe('live');
    const byId = Object.fromEntries(result.nodes.map((n) => [n.id, n]));
    expect(byId['web-1']).toMatchObject({ release: 'v1', lb: 'ready' });
    expect(byId['web-2']).toMatchObject({ release: 'v1', lb: 'ready' });
    expect(byId['web-3']!.error).toMatch(/^unreachable: its agent did not answer within 10 s .*; not rolled back$/);
    expect(await servedReleases(env)).toEqual({ 'web-1': 'v1', 'web-2': 'v1', 'web-3': 'v2' });
    await expectInvariant({ ...env, nodes: env.nodes.filter((n) => n.id !== 'web-3') }, result.nodes.filter((n) => n.id !== 'web-3'));
    console.log(`rollback of a sick fleet (1 app dead, 1 agent gone): ${seconds.toFixed(1)} s`);
    expect(seconds).toBeLessThan(40);

    // Once the agent is back (polling again), a second rollback brings the last node.
    await agentBack;
    expect(await waitUntil(async () => (await agentStarts()) > startsBefore, 30_000, 100)).toBe(true);
    const again = await runGantry(['rollback', stack.name, '--to', 'v1', '--wait', '--json', '--requested-by', 'alice'], stack.clientEnv);
    expect(again.code, again.stderr).toBe(0);
    expect(await servedReleases(env)).toEqual(everyNode('v1'));
  });

  it('gantry status answers within seconds with no orchestrator worker (a finished run from its recorded result, a running one from the server); a retry attaches only to the same request', async () => {
    await stack.define({ approval: { required: true, approvers: ['bob'], timeout: '5m' } });
    const status = async () => {
      const started = Date.now();
      const out = await runGantry(['status', stack.name, '--json'], stack.clientEnv);
      expect(out.code, out.stderr).toBe(0);
      return { seconds: (Date.now() - started) / 1000, view: JSON.parse(out.stdout) as Record<string, unknown> };
    };
    // Finished: the last rollback's result.
    let workerBack = stack.restartWorker(10_000);
    await sleep(300);
    const finished = await status();
    expect(finished.view).toMatchObject({ source: 'recorded', status: 'live', release: 'v1' });
    expect(finished.seconds).toBeLessThan(8);
    await workerBack;

    // Running: a deployment awaiting approval, then the worker gone.
    const handle = await startDeployment(stack.client, stack.name, 'v2', { sha256: stack.repo.releases.v2!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue });
    // The worker may still be starting after its restart: a refused query is a not-yet.
    expect(await waitUntil(async () => (await handle.query(statusQuery).catch(() => undefined))?.phase === 'awaiting-approval', 60_000, 100)).toBe(true);
    workerBack = stack.restartWorker(10_000);
    await sleep(300);
    const running = await status();
    expect(running.view).toMatchObject({ source: 'server', status: 'RUNNING', phase: 'awaiting-approval', release: 'v2', requestedBy: 'alice' });
    expect(running.seconds).toBeLessThan(8);
    console.log(`gantry status without a worker: ${finished.seconds.toFixed(1)} s (finished run), ${running.seconds.toFixed(1)} s (running)`);
    await workerBack;

    // A retry attaches only to the same request: another artifact digest for the same release waits its turn behind the run.
    const retry = (sha256: string) => prepareDeployment(stack.name, 'v2', { sha256, requestedBy: 'alice', taskQueue: stack.taskQueue });
    expect((await startDeployment(stack.client, stack.name, 'v2', { sha256: stack.repo.releases.v2!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue })).firstExecutionRunId).toBe(handle.firstExecutionRunId);
    const other = await enqueue(stack.client, retry('e'.repeat(64)));
    expect(other).toMatchObject({ status: 'queued', position: 1, hold: { kind: 'running' } });
    expect(other.hold!.what).toContain(handle.firstExecutionRunId);
    await handle.executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'test over' }] });
    expect((await awaitOutcome(handle)).status).toBe('aborted');
    // Its turn comes; its digest matches no artifact, so verification refuses it.
    const next = await awaitStart(stack.client, stack.name, other.id);
    expect(next.firstExecutionRunId).not.toBe(handle.firstExecutionRunId);
    const refused = await awaitOutcome(next);
    expect(refused.status).toBe('failed');
    expect(refused.error).toContain('sha256');
  });
});
