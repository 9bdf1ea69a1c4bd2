// Upgrading Gantry under a running deployment: the orchestrator runs as a Worker Deployment, and a
// deployment stays PINNED to the build that started it. Build A runs as the stack's `gantry worker`;
// build B (test/fixtures/build-b: an extra timer first, incompatible with A's histories) starts in
// this process and becomes current while a deployment started on A is paused between batches.
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { listVersions, makeCurrent } from '../client/worker-deployment';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { createLogger } from '../lib/core/logger';
import { waitUntil } from '../lib/core/wait';
import { pauseUpdate, resumeUpdate, statusQuery } from '../workflows/api';
import { createOrchestratorWorker, type OrchestratorWorkers } from '../workers/orchestrator';
import { workflowBundle } from '../workers/workflow-bundle';
import { FAILURE_CONVERTER_PATH } from '../client/data-converter';
import { expectInvariant } from './helpers/invariant';
import { startTestStack, type TestStack } from './helpers/stack';

const deploymentName = `gantry-orchestrator-${randomUUID().slice(0, 8)}`;
let stack: TestStack;
let client: Client;
let native: NativeConnection | undefined;
let buildB: OrchestratorWorkers | undefined;
let runningB: Promise<void> | undefined;

/** Deploys under the orchestrator's definition with `patch` merged in ({}: the stack's own). */
const deploy = async (patch: Record<string, unknown>, release: string) =>
  startDeployment(stack.client, await stack.define(patch), release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'upgrader', taskQueue: stack.taskQueue });

/** The build that ran each workflow task of the run, and whether any task failed (a non-determinism error would). */
async function tasksOf(workflowId: string, runId?: string): Promise<{ builds: Set<string>; failedTasks: number; firstCommand: string | undefined }> {
  const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  const builds = new Set(events.flatMap((e) => (e.workflowTaskCompletedEventAttributes ? [e.workflowTaskCompletedEventAttributes.deploymentVersion?.buildId ?? '(none)'] : [])));
  const firstTaskDone = events.findIndex((e) => e.workflowTaskCompletedEventAttributes);
  const command = events[firstTaskDone + 1];
  return { builds, failedTasks: events.filter((e) => e.workflowTaskFailedEventAttributes).length, firstCommand: command ? Object.keys(command).find((k) => k.endsWith('EventAttributes')) : undefined };
}

describe('upgrading the orchestrator under a running deployment', () => {
  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    stack = await startTestStack({ workerEnv: { GANTRY_DEPLOYMENT_NAME: deploymentName } });
    client = stack.client;
  });
  afterAll(async () => {
    buildB?.shutdown();
    await runningB?.catch(() => undefined);
    await native?.close();
    await stack?.close();
  });

  it('a paused deployment ends live on build A after build B became current; new deployments run on B; A drains', async () => {
    const env = await loadEnvironmentFile(stack.envFile);
    const first = await listVersions(client, deploymentName);
    expect(first.versions).toHaveLength(1);
    const buildA = first.current!;
    expect(first.versions[0]).toMatchObject({ buildId: buildA, status: 'current' });
    expect((await awaitOutcome(await deploy({}, 'v1'))).status).toBe('live');

    // Started on A, paused once its first node is live.
    const paced = { rollout: { batchSize: 1, pauseBetweenBatches: '2s' } };
    const handle = await deploy(paced, 'v2');
    await waitUntil(async () => (await handle.query(statusQuery)).nodes[0]?.state === 'live', 60_000, 50);
    await handle.executeUpdate(pauseUpdate, { args: [{ by: 'upgrader' }] });
    expect(await waitUntil(async () => (await handle.query(statusQuery)).events.some((e) => e.what.startsWith('holding batch')), 30_000, 100)).toBe(true);

    // Build B polls the same task queues and becomes current.
    const logger = createLogger('versioning-test');
    const bundles = {
      deployment: await bundleWorkflowCode({ workflowsPath: path.join(import.meta.dirname, 'fixtures/build-b/deployment.ts'), failureConverterPath: FAILURE_CONVERTER_PATH, logger: Runtime.instance().logger }),
      fleet: await workflowBundle(Runtime.instance().logger, 'fleet'),
    };
    native = await NativeConnection.connect({ address: stack.temporalAddress });
    buildB = await createOrchestratorWorker({ connection: native, namespace: 'default', taskQueue: stack.taskQueue, logger, bundles, environmentsDir: stack.environmentsDir, versioning: { deploymentName, makeCurrent: true } });
    expect(buildB.buildId).not.toBe(buildA);
    runningB = buildB.run();
    // The dev server propagates routing to every task queue of the deployment; beside another e2e file that has taken over a minute.
    expect((await makeCurrent(client, deploymentName, buildB.buildId, 'versioning-test', 180_000)).previous).toBe(buildA);

    // The paused deployment resumes and finishes on A, without a failed workflow task.
    await handle.executeUpdate(resumeUpdate, { args: [{ by: 'upgrader' }] });
    const resumed = await awaitOutcome(handle);
    expect(resumed.status, resumed.error).toBe('live');
    await expectInvariant(env, resumed.nodes!);
    const onA = await tasksOf(handle.workflowId, handle.firstExecutionRunId);
    expect([...onA.builds]).toEqual([buildA]);
    expect(onA.failedTasks).toBe(0);
    const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
    expect(info?.deploymentVersion?.buildId).toBe(buildA);

    // A new deployment starts on B: its first command is B's extra timer.
    const next = await deploy({}, 'v3');
    const outcome = await awaitOutcome(next);
    expect(outcome.status, outcome.error).toBe('live');
    await expectInvariant(env, outcome.nodes!);
    const onB = await tasksOf(next.workflowId, next.firstExecutionRunId);
    expect([...onB.builds]).toEqual([buildB.buildId]);
    expect(onB.firstCommand).toBe('timerStartedEventAttributes');

    // Nothing is pinned to A any more: it is reported drained, and may be stopped.
    let versions = await listVersions(client, deploymentName);
    await waitUntil(async () => (versions = await listVersions(client, deploymentName)).versions.some((v) => v.buildId === buildA && v.drainage === 'drained'), 60_000, 500);
    expect(versions.current).toBe(buildB.buildId);
    expect(versions.versions.find((v) => v.buildId === buildA)).toMatchObject({ drainage: 'drained' });
  }, 360_000);
});
