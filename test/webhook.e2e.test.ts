// `gantry webhook` as GitHub calls it: signed push and check_suite deliveries start deployments;
// bad signatures, malformed and oversized bodies are refused and start nothing; a redelivery maps to
// the deployment the first delivery started.
import { createHmac, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { awaitOutcome } from '../client/deployments';
import { startProcess, type ManagedProcess } from '../devkit/local/child-process';
import { freePort } from '../devkit/local/ports';
import { waitUntil } from '../lib/core/wait';
import { deploymentWorkflowId, type DeployInput } from '../workflows/api';
import type { deployment } from '../workflows/deployment/deployment';
import { startTestStack, type TestStack } from './helpers/stack';
import { payloadJson } from './helpers/payloads';

const SECRET = 'it-is-a-secret';
const CLI = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
let stack: TestStack;
let receiver: ManagedProcess;
let url: string;

interface Delivery {
  event: string;
  body: string | Buffer;
  delivery?: string;
  signature?: string;
}

async function deliver({ event, body, delivery = randomUUID(), signature }: Delivery) {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': delivery,
      'x-hub-signature-256': signature ?? `sha256=${createHmac('sha256', SECRET).update(bytes).digest('hex')}`,
    },
    body: bytes,
  }).catch((err: Error) => ({ status: 0, json: () => Promise.resolve({ error: err.message }) }));
  return { status: response.status, body: (await response.json()) as { workflowId?: string; runId?: string; error?: string; ignored?: string; release?: string } };
}

const pushOf = (tag: string, sender = 'alice', extra: { headCommit?: string; pushedAt?: number } = {}) =>
  JSON.stringify({
    ref: `refs/tags/${tag}`,
    before: '0'.repeat(40),
    after: stack.repo.releases[tag]?.commit ?? 'f'.repeat(40),
    created: true,
    deleted: false,
    repository: { full_name: 'acme/shop', ...(extra.pushedAt ? { pushed_at: extra.pushedAt } : {}) },
    ...(extra.headCommit ? { head_commit: { id: extra.headCommit } } : {}),
    sender: { login: sender },
  });
let firstDelivery: { id: string; runId: string } | undefined;

/** Run ids of every deployment of this stack's environment, newest first. */
async function runs(): Promise<string[]> {
  const ids: string[] = [];
  for await (const run of stack.client.workflow.list({ query: `WorkflowId = "${deploymentWorkflowId(stack.name)}"` })) ids.push(run.runId);
  return ids;
}

const finish = (runId: string) => awaitOutcome(stack.client.workflow.getHandle<typeof deployment>(deploymentWorkflowId(stack.name), runId), undefined, runId);

describe('gantry webhook', () => {
  beforeAll(async () => {
    stack = await startTestStack();
    for (const release of Object.values(stack.repo.releases)) await writeFile(`${release.file}.sha256`, `${release.sha256}  ${path.basename(release.file)}\n`);
    const config = path.join(stack.dir, 'webhook.yaml');
    const artifacts = path.dirname(stack.repo.releases.v1!.file);
    await writeFile(config, stringify({
      secret: { fromEnv: 'GITHUB_WEBHOOK_SECRET' },
      maxBodyBytes: 65_536,
      routes: [
        { repository: 'acme/shop', event: 'push', environment: stack.name, tagPattern: 'v?', sha256: `file://${artifacts}/app-{release}.tgz.sha256` },
        { repository: 'acme/shop', event: 'check_suite', environment: stack.name, remote: stack.repo.remote, sha256: `file://${artifacts}/app-{release}.tgz.sha256` },
      ],
    }));
    const port = await freePort();
    url = `http://127.0.0.1:${port}/`;
    receiver = startProcess(process.execPath, ['--import', 'tsx', CLI, 'webhook', '--config', config, '--port', String(port)], {
      logFile: path.join(stack.dir, 'webhook.log'),
      env: { ...stack.clientEnv, GITHUB_WEBHOOK_SECRET: SECRET },
    });
    const up = await waitUntil(async () => (await deliver({ event: 'ping', body: '{"zen":"hi"}' })).status === 200, 30_000, 200);
    expect(up, await receiver.logTail()).toBe(true);
  });
  afterAll(async () => {
    await receiver?.stop();
    await stack?.close();
  });

  it('a signed tag push starts the deployment; its redelivery gets the same one, during and after the run', async () => {
    const delivery = randomUUID();
    const first = await deliver({ event: 'push', body: pushOf('v1'), delivery });
    expect(first.status, first.body.error).toBe(201);
    expect(first.body).toMatchObject({ workflowId: deploymentWorkflowId(stack.name), release: 'v1' });

    const during = await deliver({ event: 'push', body: pushOf('v1'), delivery });
    expect([200, 201]).toContain(during.status);
    expect(during.body.runId).toBe(first.body.runId);

    const outcome = await finish(first.body.runId!);
    expect(outcome.status).toBe('live');
    expect(outcome.nodes!.map((n) => n.release)).toEqual(['v1', 'v1', 'v1']);

    const after = await deliver({ event: 'push', body: pushOf('v1'), delivery });
    expect(after.status).toBe(200);
    expect(after.body.runId).toBe(first.body.runId);
    expect(await runs()).toEqual([first.body.runId]);
    firstDelivery = { id: delivery, runId: first.body.runId! };
  });

  it('de-duplicates by delivery id, passes the pushed commit to verification, and refuses an event older than maxDeliveryAge', async () => {
    // The same delivery id gets the same answer whatever the body now says.
    const replayed = await deliver({ event: 'push', body: pushOf('v2'), delivery: firstDelivery!.id });
    expect(replayed.status).toBe(200);
    expect(replayed.body.runId).toBe(firstDelivery!.runId);

    const stale = await deliver({ event: 'push', body: pushOf('v2', 'alice', { pushedAt: Math.floor(Date.now() / 1000) - 2 * 3600 }) });
    expect(stale.status).toBe(422);
    expect(stale.body.error).toContain('older than maxDeliveryAge (1h)');
    expect(await runs()).toEqual([firstDelivery!.runId]);

    // The push saw v2 on v1's commit: the tag has "moved" since, and verification catches it.
    const moved = await deliver({ event: 'push', body: pushOf('v2', 'alice', { headCommit: stack.repo.releases.v1!.commit, pushedAt: Math.floor(Date.now() / 1000) }) });
    expect(moved.status, moved.body.error).toBe(201);
    const outcome = await finish(moved.body.runId!);
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toContain(`names commit ${stack.repo.releases.v2!.commit}, not the requested ${stack.repo.releases.v1!.commit}; was the tag moved?`);
  });

  it('refuses a bad signature with 401 and starts nothing', async () => {
    const before = await runs();
    const forged = await deliver({ event: 'push', body: pushOf('v2'), signature: `sha256=${createHmac('sha256', 'wrong').update(pushOf('v2')).digest('hex')}` });
    expect(forged.status).toBe(401);
    const unsigned = await deliver({ event: 'push', body: pushOf('v2'), signature: '' });
    expect(unsigned.status).toBe(401);
    const truncated = await deliver({ event: 'push', body: pushOf('v2'), signature: 'sha256=abcd' });
    expect(truncated.status).toBe(401);
    expect(await runs()).toEqual(before);
  });

  it('refuses malformed bodies with 400 and a reason, oversized ones with 413', async () => {
    const before = await runs();
    const notJson = await deliver({ event: 'push', body: 'payload=%7B%7D' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error).toMatch(/not JSON.*application\/json/);
    const noRef = await deliver({ event: 'push', body: JSON.stringify({ repository: { full_name: 'acme/shop' }, sender: { login: 'a' } }) });
    expect(noRef.status).toBe(400);
    expect(noRef.body.error).toMatch(/^not a push event: ref: /);
    const badSha = await deliver({ event: 'check_suite', body: JSON.stringify({ action: 'completed', check_suite: { conclusion: 'success', head_sha: 'nope' }, repository: { full_name: 'acme/shop' }, sender: { login: 'a' } }) });
    expect(badSha.status).toBe(400);
    expect(badSha.body.error).toContain('check_suite.head_sha: expected a 40-digit commit sha');
    const huge = await deliver({ event: 'push', body: Buffer.alloc(70_000, 0x20) });
    expect(huge.status).toBe(413);
    const branch = await deliver({ event: 'push', body: JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'acme/shop' }, sender: { login: 'a' } }) });
    expect(branch).toMatchObject({ status: 202, body: { ignored: 'refs/heads/main is not a tag' } });
    const notAllowed = await deliver({ event: 'push', body: pushOf('nightly-7') });
    expect(notAllowed).toMatchObject({ status: 202, body: { ignored: 'tag nightly-7 does not match v?' } });
    expect(await runs()).toEqual(before);
  });

  it('a successful check suite on a tagged commit deploys that tag', async () => {
    const suite = (conclusion: string) =>
      JSON.stringify({ action: 'completed', check_suite: { conclusion, head_sha: stack.repo.releases.v3!.commit, head_branch: null }, repository: { full_name: 'acme/shop' }, sender: { login: 'github-actions' } });
    const failed = await deliver({ event: 'check_suite', body: suite('failure') });
    expect(failed).toMatchObject({ status: 202, body: { ignored: 'check suite concluded failure, not success' } });
    const passed = await deliver({ event: 'check_suite', body: suite('success') });
    expect(passed.status, passed.body.error).toBe(201);
    expect(passed.body.release).toBe('v3');
    const input = (await stack.client.workflow.getHandle(deploymentWorkflowId(stack.name), passed.body.runId).fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    const started = await payloadJson<DeployInput>(input);
    expect(started).toMatchObject({ release: 'v3', commit: stack.repo.releases.v3!.commit, requestedBy: 'github:github-actions', artifactSha256: stack.repo.releases.v3!.sha256 });
    expect(Object.keys(started).sort()).toEqual(['artifactSha256', 'commit', 'environment', 'release', 'requestedBy', 'shape']);
    expect((await finish(passed.body.runId!)).status).toBe('live');
  });

  it('never deploys a release older than the live one: that is gantry rollback', async () => {
    const before = await runs();
    const older = await deliver({ event: 'push', body: pushOf('v2', 'bob') });
    expect(older.status).toBe(409);
    expect(older.body.error).toBe(`v2 is older than v3, live on ${stack.name}: a webhook never deploys an older release; use gantry rollback ${stack.name} --to v2`);
    const same = await deliver({ event: 'push', body: pushOf('v3', 'bob') });
    expect(same).toMatchObject({ status: 202, body: { ignored: `v3 is already live on ${stack.name}` } });
    expect(await runs()).toEqual(before);
  });
});
