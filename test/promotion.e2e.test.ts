// Promotion between two stages, each its own stack (nodes, HAProxy, orchestrator worker) on the same
// Temporal server: prod's definition names staging as promotion.from with a bake time, and both
// build from the same repository and artifacts. `gantry promote` deploys only what went live on
// staging, after it baked there, as the same bytes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { sleep, waitUntil } from '../lib/core/wait';
import { readQueue } from '../client/queue';
import type { DeployOutcome } from '../client/deployments';
import { runGantry } from './helpers/cli';
import { servedReleases } from './helpers/invariant';
import { startTestStack, type TestStack } from './helpers/stack';

const BAKE_MS = 4_000;
let staging: TestStack;
let prod: TestStack;
let shared: Record<string, unknown>;

const sha = (release: string) => staging.repo.releases[release]!.sha256;
const deploy = async (stack: TestStack, release: string) => awaitOutcome(await startDeployment(stack.client, stack.name, release, { sha256: sha(release), requestedBy: 'alice', taskQueue: stack.taskQueue }));
const everyNode = (stack: TestStack, release: string) => Object.fromEntries(stack.nodeIds.map((id) => [id, release]));
const served = async (stack: TestStack) => servedReleases(await loadEnvironmentFile(stack.envFile));

async function promote(release: string, ...flags: string[]): Promise<DeployOutcome> {
  const run = await runGantry(['promote', release, '--to', prod.name, '--wait', '--json', '--requested-by', 'carol', ...flags], prod.clientEnv);
  expect(run.stdout, run.stderr).not.toBe('');
  return JSON.parse(run.stdout) as DeployOutcome;
}

describe('promotion from staging to prod', () => {
  beforeAll(async () => {
    staging = await startTestStack({ releases: ['v1', 'v2', 'v3', 'v4'] });
    const artifacts = path.dirname(staging.repo.releases.v1!.file);
    // prod's nodes may fetch the one artifact store both stages use.
    prod = await startTestStack({ releases: ['v1'], node: { artifacts: { allowedSources: [`file://${artifacts}/`] } } });
    shared = { source: { remote: staging.repo.remote }, artifact: { url: `file://${artifacts}/app-{release}.tgz` } };
    await prod.define({ ...shared, promotion: { from: staging.name, bake: `${BAKE_MS}ms` } });
    expect((await deploy(staging, 'v1')).status).toBe('live');
    expect((await deploy(prod, 'v1')).status).toBe('live');
  });
  afterAll(async () => {
    await prod?.close();
    await staging?.close();
  });

  it('refuses a release that never went live upstream', async () => {
    const outcome = await promote('v3');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toContain(`v3 has not gone live on ${staging.name}: a promotion takes only what ran there`);
    expect(await served(prod)).toEqual(everyNode(prod, 'v1'));
  });

  it('refuses one live upstream for less than the bake, and one whose digest differs; after the bake it deploys the same bytes', async () => {
    const upstream = await deploy(staging, 'v2');
    expect(upstream.status).toBe('live');
    const early = await promote('v2');
    expect(early.status).toBe('failed');
    expect(early.error).toMatch(new RegExp(`v2 has been live on ${staging.name} for .* of promotion\\.bake 4s; promote it after `));

    const other = 'f'.repeat(64);
    const differs = await promote('v2', '--sha256', other);
    expect(differs.error).toContain(`the artifact digest differs: v2 ran on ${staging.name} as sha256 ${sha('v2')} (run ${upstream.runId}), this request names ${other}`);
    expect(await served(prod)).toEqual(everyNode(prod, 'v1'));

    await sleep(BAKE_MS);
    const promoted = await promote('v2');
    expect(promoted.status, promoted.error).toBe('live');
    expect(await served(prod)).toEqual(everyNode(prod, 'v2'));
    const result = (await prod.client.workflow.getHandle(promoted.workflowId, promoted.runId).result()) as { artifactSha256: string; promotedFrom: { runId: string; from: string } };
    expect(result.artifactSha256).toBe(sha('v2'));
    expect(result.promotedFrom).toMatchObject({ from: staging.name, runId: upstream.runId });
  });

  it('refuses a release that was replaced upstream before it baked', async () => {
    expect((await deploy(staging, 'v3')).status).toBe('live');
    // v3 went live on staging, and v1 replaced it within the bake: a promotion takes only a release that baked.
    expect((await deploy(staging, 'v1')).status).toBe('live');
    const outcome = await promote('v3');
    expect(outcome.error).toMatch(new RegExp(`v3 was live on ${staging.name} for only .* until a newer release replaced it at .*, less than promotion\\.bake 4s`));
    expect(await served(prod)).toEqual(everyNode(prod, 'v2'));
  });

  it('promotes by itself the newest release once it has baked upstream (promotion.auto), and only once', async () => {
    await prod.define({ ...shared, promotion: { from: staging.name, bake: '2s', auto: true, checkEvery: '500ms' } });
    // Any request makes the queue read its definition now (idle, it reads it every 5 minutes).
    expect((await promote('v2')).status).toBe('live');
    expect((await deploy(staging, 'v4')).status).toBe('live');
    // Polled on the nodes themselves: one restarting refuses the connection for a moment.
    const onV4 = async () => JSON.stringify(await served(prod).catch(() => null)) === JSON.stringify(everyNode(prod, 'v4'));
    expect(await waitUntil(onV4, 60_000, 250)).toBe(true);
    const run = (await prod.client.workflow.getHandle(`deploy/${prod.name}`).result()) as { requestedBy: string; promotedFrom: { release: string; from: string } };
    expect(run).toMatchObject({ requestedBy: `gantry:auto-promotion from ${staging.name}`, promotedFrom: { release: 'v4', from: staging.name } });
    await sleep(2_000);
    const q = (await readQueue(prod.client, prod.name))!;
    expect(q.finished.filter((f) => f.release === 'v4').map((f) => f.status)).toEqual(['live']);
    expect(q.pending).toEqual([]);
  });
});
