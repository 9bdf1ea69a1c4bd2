// The orchestrator decides and agents obey their node: what a caller or a namespace client sends can
// neither weaken policy nor run code on a node. Real server, agents, worker and HAProxy; each attack
// is refused and nothing changes.
import { bundleWorkflowCode, Runtime, Worker, NativeConnection, DefaultLogger } from '@temporalio/worker';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { promisify } from 'node:util';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome, enqueue, RequestRefused } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { ExitCode } from '../cli/exit-codes';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { waitUntil } from '../lib/core/wait';
import { abortUpdate, agentTaskQueue, deploymentWorkflowId, statusQuery, type DeployInput, type EnvironmentListing } from '../workflows/api';
import { caught } from './helpers/caught';
import { workerDataConverter } from '../client/data-converter';
import { runGantry } from './helpers/cli';
import { activityNames } from './helpers/history';
import { expectInvariant, servedReleases } from './helpers/invariant';
import { startTestStack, type TestStack } from './helpers/stack';

const run = promisify(execFile);
let stack: TestStack;
let env: Environment;
let attacker: { worker: Worker; done: Promise<void>; native: NativeConnection; taskQueue: string };

const sha = (release: string) => stack.repo.releases[release]!.sha256;
const fileSha = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
const everyNode = <T>(value: T) => Object.fromEntries(stack.nodeIds.map((id) => [id, value]));
const approval = { approval: { required: true, approvers: ['bob'], timeout: '5m' } };

/** Sends `calls` to web-1's agent queue from the attacker's own workflow. */
async function crafted(calls: { name: string; input: unknown }[]) {
  return stack.client.workflow.execute('craftedActivities', {
    workflowId: `attack-${randomUUID()}`,
    taskQueue: attacker.taskQueue,
    args: [{ taskQueue: agentTaskQueue(stack.name, 'web-1'), calls }],
    workflowExecutionTimeout: '2m',
  }) as Promise<{ name: string; ok: boolean; message: string; type?: string }[]>;
}

describe('trust: the orchestrator decides, agents obey their node', () => {
  beforeAll(async () => {
    stack = await startTestStack({ releases: ['v1', 'v2', 'v3'] });
    env = await loadEnvironmentFile(stack.envFile);
    expect((await awaitOutcome(await startDeployment(stack.client, stack.name, 'v1', { sha256: sha('v1'), requestedBy: 'setup', taskQueue: stack.taskQueue }))).status).toBe('live');
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const native = await NativeConnection.connect({ address: stack.temporalAddress });
    const taskQueue = `attacker-${randomUUID().slice(0, 8)}`;
    const workflowBundle = await bundleWorkflowCode({ workflowsPath: path.join(import.meta.dirname, 'fixtures/attacker/workflows.ts'), logger: Runtime.instance().logger });
    // The strongest namespace client: it even holds the payload keys.
    const worker = await Worker.create({ connection: native, namespace: 'default', taskQueue, workflowBundle, dataConverter: workerDataConverter() });
    attacker = { worker, native, taskQueue, done: worker.run() };
  });
  afterAll(async () => {
    attacker?.worker.shutdown();
    await attacker?.done.catch(() => undefined);
    await attacker?.native.close();
    await stack?.close();
  });

  it("a request carrying its own environment or policy is refused; the orchestrator's definition applies, pinned by its sha256 for the whole run", async () => {
    await stack.define(approval);
    const pinned = await fileSha(stack.envFile);
    // The raw workflow input, as any namespace client could send it with `temporal workflow start`.
    const ownCopy = { ...env, approval: undefined, ci: { provider: 'none' } };
    for (const [input, expected] of [
      [{ environment: ownCopy, release: 'v2', artifactSha256: sha('v2'), requestedBy: 'mallory' }, /environment: expected the environment's name/],
      [{ environment: stack.name, release: 'v2', artifactSha256: sha('v2'), requestedBy: 'mallory', approval: { required: false } }, /approval: unknown key/],
      [{ environment: stack.name, release: 'v2', artifactSha256: sha('v2'), requestedBy: 'mallory', migrations: { command: ['sh', '-c', 'id'] } }, /migrations: unknown key/],
    ] as const) {
      const handle = await stack.client.workflow.start('deployment', { workflowId: deploymentWorkflowId(stack.name), taskQueue: stack.taskQueue, args: [input] });
      const outcome = await awaitOutcome(handle);
      expect(outcome.status).toBe('failed');
      expect(outcome.error).toMatch(expected);
    }
    // A well-formed request started around the queue is refused too: the queue's lock and order hold.
    const around = await stack.client.workflow.start('deployment', {
      workflowId: deploymentWorkflowId(stack.name),
      taskQueue: stack.taskQueue,
      args: [{ environment: stack.name, release: 'v2', artifactSha256: sha('v2'), requestedBy: 'mallory' }],
    });
    expect((await awaitOutcome(around)).error).toMatch(`deployments of ${stack.name} start through its queue queue/${stack.name}`);
    // Through the queue, a request carrying policy is refused before anything starts, naming the key.
    const refused = await caught(enqueue(stack.client, { input: { environment: stack.name, release: 'v2', artifactSha256: sha('v2'), requestedBy: 'mallory', approval: { required: false } } as unknown as DeployInput, taskQueue: stack.taskQueue }));
    expect(refused).toBeInstanceOf(RequestRefused);
    expect((refused as Error).message).toMatch(/approval: unknown key/);
    expect(await servedReleases(env)).toEqual(everyNode('v1'));

    // A plain request runs under the definition: it waits for bob. The file changing meanwhile does not reach it.
    const handle = await startDeployment(stack.client, stack.name, 'v2', { sha256: sha('v2'), requestedBy: 'mallory', taskQueue: stack.taskQueue });
    expect(await waitUntil(async () => (await handle.query(statusQuery).catch(() => undefined))?.phase === 'awaiting-approval', 60_000, 100)).toBe(true);
    await stack.define({});
    const status = await handle.query(statusQuery);
    expect(status.definitionSha256).toBe(pinned);
    expect(status.approvalsNeeded).toBe(1);
    await handle.executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'test over' }] });
    const outcome = await awaitOutcome(handle);
    expect(outcome).toMatchObject({ status: 'aborted', definitionSha256: pinned });
    await expectInvariant(env, stack.nodeIds.map((id) => ({ id, release: 'v1' })));

    const listed = await runGantry(['environments', '--json', '--task-queue', stack.taskQueue], stack.clientEnv);
    expect(listed.code, listed.stderr).toBe(0);
    const listing = JSON.parse(listed.stdout) as EnvironmentListing;
    expect(listing.environments).toContainEqual({ name: stack.name, sha256: await fileSha(stack.envFile), nodes: 3 });
  });

  it('a misspelt key in the definition refuses the deployment before anything starts, with the suggestion', async () => {
    await stack.define({ loadBalancer: { ...env.loadBalancer, drainTimout: '5s' } });
    try {
      // The queue reads the definition when the request comes: refused at once (exit 4), nothing started.
      const refused = await caught(startDeployment(stack.client, stack.name, 'v2', { sha256: sha('v2'), requestedBy: 'test', taskQueue: stack.taskQueue }));
      expect(refused).toMatchObject({ code: ExitCode.rejected });
      expect((refused as Error).message).toContain('loadBalancer.drainTimout: unknown key; did you mean drainTimeout?');
      expect(await servedReleases(env)).toEqual(everyNode('v1'));
    } finally {
      await stack.define({});
    }
  });

  it("an agent refuses crafted activities its node config does not allow, and executes nothing", async () => {
    const marker = path.join(stack.dir, 'pwned');
    const outside = path.join(stack.dir, 'outside.tgz');
    const results = await crafted([
      { name: 'runCommand', input: { argv: ['touch', marker], release: 'v1', env: {}, timeoutMs: 5_000 } },
      { name: 'runMigration', input: { phase: 'expand', release: 'v1', timeoutMs: 5_000 } },
      { name: 'stage', input: { release: 'v9', url: `file://${outside}`, sha256: sha('v1') } },
      { name: 'restoreDatabase', input: { file: '/etc/passwd', schema: 'x' } },
      { name: 'backupDatabase', input: { id: 'x', command: ['touch', marker], timeoutMs: 5_000 } },
    ]);
    const byName = Object.fromEntries(results.map((r) => [r.name, r]));
    expect(byName.runCommand).toMatchObject({ ok: false });
    expect(byName.runCommand!.message).toMatch(/not registered/);
    expect(byName.runMigration).toMatchObject({ ok: false, type: 'NotAllowedByNode', message: 'node web-1 refused to run expand migrations: its node config has no migrations section' });
    expect(byName.stage).toMatchObject({ ok: false, type: 'NotAllowedByNode' });
    expect(byName.stage!.message).toContain(`refused to download file://${outside}: not under its artifacts.allowedSources`);
    expect(byName.restoreDatabase).toMatchObject({ ok: false, type: 'NotAllowedByNode' });
    // The command in the input is ignored: the node has no backup command and no database.
    expect(byName.backupDatabase).toMatchObject({ ok: false, type: 'BackupNotConfigured' });
    expect(existsSync(marker)).toBe(false);
    expect(existsSync(path.join(stack.nodeRoot('web-1'), 'releases', 'v9'))).toBe(false);
  });

  it('a release id staged earlier with other content is replaced by the genuine one, never served', async () => {
    // v3's id with v1's bytes, staged on web-1 through its queue from an allowed source.
    const [staged] = await crafted([{ name: 'stage', input: { release: 'v3', url: stack.repo.releases.v1!.url, sha256: sha('v1') } }]);
    expect(staged).toMatchObject({ ok: true });
    expect(await readFile(path.join(stack.nodeRoot('web-1'), 'releases', 'v3', 'release.json'), 'utf8')).toContain('"v1"');

    const outcome = await awaitOutcome(await startDeployment(stack.client, stack.name, 'v3', { sha256: sha('v3'), requestedBy: 'test', taskQueue: stack.taskQueue }));
    expect(outcome.status, outcome.error).toBe('live');
    expect(await servedReleases(env)).toEqual(everyNode('v3'));
    await expectInvariant(env, outcome.nodes!);

    // The same id with other bytes while it is live: refused, naming the node.
    const [conflict] = await crafted([{ name: 'stage', input: { release: 'v3', url: stack.repo.releases.v2!.url, sha256: sha('v2') } }]);
    expect(conflict).toMatchObject({ ok: false, type: 'ReleaseConflict' });
    expect(conflict!.message).toContain(`node web-1 runs release v3 with sha256 ${sha('v3')}, not ${sha('v2')}`);
    expect(await servedReleases(env)).toEqual(everyNode('v3'));
  });

  it('with artifactDigestInTag, a digest other than the signed tag names is refused in verify and nothing is staged', async () => {
    // The release manager signs tag v2 naming an artifact; the artifact server holds other bytes for it.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-sign-'));
    try {
      const key = path.join(dir, 'release-key');
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'release', '-f', key]);
      const allowedSigners = path.join(dir, 'allowed_signers');
      await writeFile(allowedSigners, `release@example.com ${(await readFile(`${key}.pub`, 'utf8')).trim()}\n`);
      const work = path.join(dir, 'work');
      await run('git', ['clone', '--quiet', stack.repo.remote, work]);
      const sign = async (digest: string) => {
        const as = ['-c', 'user.name=Release Manager', '-c', 'user.email=release@example.com', '-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`];
        await run('git', [...as, 'tag', '-f', '-s', 'v2', stack.repo.releases.v2!.commit, '-m', `Release v2\n\nartifact-sha256: ${digest}`], { cwd: work });
        await run('git', ['push', '--quiet', '--force', 'origin', 'refs/tags/v2'], { cwd: work });
      };
      await sign(sha('v1'));
      await stack.define({ source: { remote: stack.repo.remote, requireSignedTag: true, allowedSignersFile: allowedSigners, artifactDigestInTag: true } });
      const before = await servedReleases(env);

      const handle = await startDeployment(stack.client, stack.name, 'v2', { sha256: sha('v2'), requestedBy: 'test', taskQueue: stack.taskQueue });
      const refused = await awaitOutcome(handle);
      expect(refused.status).toBe('failed');
      expect(refused.error).toContain(`artifact sha256 ${sha('v2')} is not the one signed tag v2 names (${sha('v1')})`);
      // Refused in verify: no child workflow (preflight, stage, rollout) ever reached the fleet.
      const events = (await stack.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory()).events ?? [];
      expect(events.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes)).toEqual([]);
      expect(await activityNames(stack.client, handle.workflowId, handle.firstExecutionRunId)).toContain('verifyTag');
      expect(await servedReleases(env)).toEqual(before);

      // Signed for the artifact that goes out: it deploys.
      await sign(sha('v2'));
      const outcome = await awaitOutcome(await startDeployment(stack.client, stack.name, 'v2', { sha256: sha('v2'), requestedBy: 'test', taskQueue: stack.taskQueue }));
      expect(outcome.status, outcome.error).toBe('live');
      expect(await servedReleases(env)).toEqual(everyNode('v2'));
    } finally {
      await stack.define({});
      await rm(dir, { recursive: true, force: true });
    }
  });
});

