// End to end: real Temporal dev server, real HAProxy, agents and the orchestrator worker as processes,
// the sample app as real releases from a real git remote.
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome, awaitStart, enqueue } from '../client/deployments';
import { prepareDeployment, startDeployment } from '../cli/commands/deploy';
import { ExitCode } from '../cli/exit-codes';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { deploymentWorkflowId, nodeWorkflowId, statusQuery } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { activityNames } from './helpers/history';
import { expectInvariant, servedReleases as servedNow } from './helpers/invariant';
import { startLoad } from '../devkit/local/load';
import { startTestStack, type TestStack } from './helpers/stack';
import { caught } from './helpers/caught';

let stack: TestStack;
let env: Environment;

const sha = (release: string) => stack.repo.releases[release]!.sha256;
const deploy = (release: string, sha256 = sha(release)) =>
  startDeployment(stack.client, stack.name, release, { sha256, requestedBy: 'test', taskQueue: stack.taskQueue });

const servedReleases = () => servedNow(env);

const everyNode = <T>(value: T) => Object.fromEntries(stack.nodeIds.map((id) => [id, value]));

async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await caught(promise);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('rolling deployment on the local stack', () => {
  beforeAll(async () => {
    stack = await startTestStack();
    env = await loadEnvironmentFile(stack.envFile);
    const first = await awaitOutcome(await deploy('v1'));
    expect(first.status).toBe('live');
    await expectInvariant(env, first.nodes!);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('rolls v1 → v2 across 3 nodes through the CLI with zero failed requests through HAProxy', async () => {
    expect(await servedReleases()).toEqual(everyNode('v1'));
    const load = startLoad(stack.haproxy.url);
    const run = await runGantry(['deploy', stack.name, 'v2', '--sha256', sha('v2'), '--wait', '--json', '--requested-by', 'ci-bot'], stack.clientEnv);
    const report = await load.stop();

    expect(run.stderr).not.toContain('Error');
    expect(run.code).toBe(ExitCode.ok);
    const outcome = JSON.parse(run.stdout.trim()) as { status: string; release: string; workflowId: string; nodes: { id: string; release: string; lb: string }[] };
    expect(outcome).toMatchObject({ status: 'live', release: 'v2', workflowId: deploymentWorkflowId(stack.name) });
    expect(outcome.nodes).toEqual(stack.nodeIds.map((id) => ({ id, release: 'v2', lb: 'ready' })));

    await expectInvariant(env, outcome.nodes);
    expect(await servedReleases()).toEqual(everyNode('v2'));
    console.log(`load during v1→v2: ${JSON.stringify({ sent: report.sent, ok: report.ok, non200: report.non200, errors: report.errors, failures: report.failures.slice(0, 5) })}`);
    expect(report.failures).toEqual([]);
    expect(report.non200).toBe(0);
    expect(report.errors).toBe(0);
    expect(report.sent).toBeGreaterThanOrEqual(300);
  });

  // The second drain is the re-check right before the switch (an HAProxy that lost its state is caught); it is instant when the server is out.
  it('records drain → configure → health → enable in order for every node', async () => {
    for (const id of stack.nodeIds) {
      expect(await activityNames(stack.client, nodeWorkflowId(stack.name, id))).toEqual(['drain', 'drain', 'activate', 'waitHealthy', 'enable']);
    }
    const parent = await stack.client.workflow.getHandle(deploymentWorkflowId(stack.name)).fetchHistory();
    const child = await stack.client.workflow.getHandle(nodeWorkflowId(stack.name, stack.nodeIds[0]!)).fetchHistory();
    console.log(`history events: parent ${parent.events?.length}, one node child ${child.events?.length}`);
  });

  it('fails in verify on a wrong sha256, before any node is drained', async () => {
    const handle = await deploy('v3', 'f'.repeat(64));
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe('DeploymentFailed');
    expect(failure.message).toMatch(/sha256/);
    expect(failure.cause).toBeInstanceOf(ActivityFailure);
    expect(failure.cause?.cause).toMatchObject({ type: 'DigestMismatch', nonRetryable: true });
    const types = await activityNames(stack.client, handle.workflowId);
    expect(types).toEqual(['loadEnvironment', 'verifyTag', 'verifyArtifact']);
    // No node child started, so nothing was drained.
    const status = await handle.query(statusQuery);
    expect(status.phase).toBe('failed');
    expect(status.events.map((e) => e.what)).not.toContain('phase rollout');
    expect(status.nodes.map((n) => n.state)).toEqual(['pending', 'pending', 'pending']);
    await expectInvariant(env, stack.nodeIds.map((id) => ({ id, release: 'v2' })));
    expect(await servedReleases()).toEqual(everyNode('v2'));
  });

  it('fails in verify on a tag that was never pushed, touching nothing', async () => {
    const handle = await deploy('v9', sha('v3'));
    const failure = await failureOf(handle.result());
    expect(failure.message).toMatch(/tag v9 does not exist/);
    expect(failure.cause).toBeInstanceOf(ActivityFailure);
    expect(failure.cause?.cause).toMatchObject({ type: 'TagNotFound', nonRetryable: true });
    expect(await activityNames(stack.client, handle.workflowId)).toEqual(['loadEnvironment', 'verifyTag']);
    await expectInvariant(env, stack.nodeIds.map((id) => ({ id, release: 'v2' })));
    expect(await servedReleases()).toEqual(everyNode('v2'));
  });

  it('queues a second deployment while one runs (fifo), naming what holds it; the same request retried attaches', async () => {
    const first = await deploy('v3');
    const retried = await deploy('v3');
    expect(retried.firstExecutionRunId).toBe(first.firstExecutionRunId);
    const second = await enqueue(stack.client, prepareDeployment(stack.name, 'v2', { sha256: sha('v2'), requestedBy: 'test', taskQueue: stack.taskQueue }));
    expect(second).toMatchObject({ status: 'queued', position: 1, replaced: [], hold: { kind: 'running' } });
    expect(second.hold!.what).toContain(`${deploymentWorkflowId(stack.name)} (run ${first.firstExecutionRunId}) is deploying v3`);
    const outcome = await awaitOutcome(first);
    expect(outcome.status).toBe('live');
    // The queue starts the waiting request as soon as the first ends.
    const next = await awaitStart(stack.client, stack.name, second.id);
    expect(next.firstExecutionRunId).not.toBe(first.firstExecutionRunId);
    const after = await awaitOutcome(next);
    expect(after).toMatchObject({ status: 'live', release: 'v2' });
    await expectInvariant(env, after.nodes!);
    expect(await servedReleases()).toEqual(everyNode('v2'));
  });
});
