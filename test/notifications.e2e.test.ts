// Notifications are best effort: broken receivers never fail or stall a deployment. Also checks the
// changes going out (status, memo, Slack message) and that the signed webhook verifies.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { statusQuery } from '../workflows/api';
import { expectInvariant } from './helpers/invariant';
import { startReceiver } from './helpers/receivers';
import { startTestStack, type TestStack } from './helpers/stack';

const SECRET = 'webhook-signing-key';
let stack: TestStack;
let secretsDir: string;
let receivers: Record<'slack' | 'signed' | 'failing' | 'hung', Awaited<ReturnType<typeof startReceiver>>>;

/** A deployment under the orchestrator's definition with `patch` merged in. */
async function timedDeploy(patch: Record<string, unknown>, release: string) {
  await stack.define(patch);
  const started = Date.now();
  const handle = await startDeployment(stack.client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'dana', taskQueue: stack.taskQueue });
  const outcome = await awaitOutcome(handle);
  return { handle, outcome, ms: Date.now() - started };
}

describe('notifications', () => {
  beforeAll(async () => {
    receivers = {
      slack: await startReceiver('record'),
      signed: await startReceiver('record', SECRET),
      failing: await startReceiver('fail'),
      hung: await startReceiver('hang'),
    };
    secretsDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-secrets-'));
    await writeFile(path.join(secretsDir, 'hook-secret'), `${SECRET}\n`);
    stack = await startTestStack({
      workerEnv: { SLACK_URL: receivers.slack.url, SIGNED_URL: receivers.signed.url, FAILING_URL: receivers.failing.url, HUNG_URL: receivers.hung.url },
    });
    expect((await awaitOutcome(await startDeployment(stack.client, stack.name, 'v1', { sha256: stack.repo.releases.v1!.sha256, taskQueue: stack.taskQueue }))).status).toBe('live');
  });
  afterAll(async () => {
    await stack?.close();
    await Promise.all(Object.values(receivers ?? {}).map((r) => r.close()));
    await rm(secretsDir, { recursive: true, force: true });
  });

  it('a receiver answering 500 and one never answering cost the deploy less than the notify budget', async () => {
    const settings = { timeout: '2s', attempts: 3 };
    const slack = { type: 'slack', url: { fromEnv: 'SLACK_URL' }, events: ['started', 'succeeded', 'failed'] };
    const signed = { type: 'webhook', url: { fromEnv: 'SIGNED_URL' }, secret: { fromFile: path.join(secretsDir, 'hook-secret') } };
    const healthy = { notifications: { ...settings, channels: [slack, signed] } };
    const broken = {
      notifications: {
        ...settings,
        channels: [slack, signed, { type: 'webhook', url: { fromEnv: 'FAILING_URL' } }, { type: 'webhook', url: { fromEnv: 'HUNG_URL' } }],
      },
    };

    const baseline = await timedDeploy(healthy, 'v2');
    expect(baseline.outcome.status).toBe('live');
    const withBroken = await timedDeploy(broken, 'v3');
    expect(withBroken.outcome.status).toBe('live');
    const env = await loadEnvironmentFile(stack.envFile);
    await expectInvariant(env, withBroken.outcome.nodes!);

    const budgetMs = 2_000 * 3;
    console.log(`deploy with healthy receivers ${baseline.ms} ms, with a failing and a hung one ${withBroken.ms} ms (budget ${budgetMs} ms)`);
    expect(withBroken.ms - baseline.ms).toBeLessThan(budgetMs);
    expect(receivers.failing.requests()).toBeGreaterThanOrEqual(2); // it was retried
    expect(receivers.hung.requests()).toBeGreaterThanOrEqual(1);

    const events = (await withBroken.handle.query(statusQuery)).events.map((e) => e.what);
    expect(events).toContainEqual(expect.stringMatching(/^notification "requested" to webhook not delivered: webhook answered 500/));
  });

  it('delivers each channel the events it chose: Slack format with the changes, and a verifiable HMAC signature', () => {
    const slackEvents = receivers.slack.deliveries.map((d) => d.body);
    expect(slackEvents.length).toBeGreaterThanOrEqual(4); // started + succeeded, for v2 and v3
    const live = slackEvents.find((b) => b.text === `v3 is live on ${stack.name}`);
    expect(live).toBeDefined();
    const blocks = JSON.stringify(live!.blocks);
    expect(blocks).toContain('*1 change*');
    expect(blocks).toContain('Release v3');
    expect(blocks).toContain('Gantry Demo');

    const signed = receivers.signed.deliveries;
    expect(signed.every((d) => d.signatureValid === true)).toBe(true);
    const v3Events = new Set(signed.filter((d) => d.body.release === 'v3').map((d) => d.body.event));
    expect([...v3Events].sort()).toEqual(['batch-done', 'requested', 'started', 'succeeded']);
  });

  it('records the changes going out in the status and the memo', async () => {
    const handle = stack.client.workflow.getHandle(`deploy/${stack.name}`);
    const status = await handle.query(statusQuery);
    expect(status.changes).toMatchObject({ from: 'v2', to: 'v3', total: 1 });
    expect(status.changes!.commits[0]).toMatchObject({ author: 'Gantry Demo <demo@gantry.invalid>', subject: 'Release v3' });
    const memo = (await handle.describe()).memo as { changes?: { total: number } };
    expect(memo.changes?.total).toBe(1);
  });
});
