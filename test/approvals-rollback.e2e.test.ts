// Approvals, abort, pause/resume, automatic and manual rollback, end to end on the local stack.
import { execFile } from 'node:child_process';
import { rename } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { sleep } from '../lib/core/wait';
import {
  abortUpdate,
  approveSignal,
  approveUpdate,
  deploymentWorkflowId,
  nodeWorkflowId,
  pauseUpdate,
  resumeUpdate,
  statusQuery,
  type DeployStatus,
} from '../workflows/api';
import { runGantry } from './helpers/cli';
import { activityNames } from './helpers/history';
import { expectInvariant, servedReleases } from './helpers/invariant';
import { startLoad } from '../devkit/local/load';
import { startTestStack, type TestStack } from './helpers/stack';
import { rejection, waitForStatus } from './helpers/deployment-status';

const run = promisify(execFile);

let stack: TestStack;
let env: Environment;
let approvalFile: Record<string, unknown>;

/** Deploys under the orchestrator's definition with `patch` merged in ({}: the stack's own). */
const deployFrom = async (patch: Record<string, unknown>, release: string, requestedBy = 'alice') =>
  startDeployment(stack.client, await stack.define(patch), release, { sha256: stack.repo.releases[release]!.sha256, requestedBy, taskQueue: stack.taskQueue });
const everyNode = <T>(value: T) => Object.fromEntries(stack.nodeIds.map((id) => [id, value]));

async function startedChildren(workflowId: string): Promise<number> {
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length;
}

const temporal = (...args: string[]) => run(inject('temporalPath'), [...args, '--address', stack.temporalAddress, '--namespace', 'default']);

describe('approvals, abort and rollback', () => {
  beforeAll(async () => {
    stack = await startTestStack({ releases: ['v1', 'v2', 'v3', { release: 'v-bad', unhealthyOn: ['web-2'] }] });
    env = await loadEnvironmentFile(stack.envFile);
    approvalFile = {
      approval: { required: true, approvers: ['alice', 'bob', 'carol'], minApprovals: 2, timeout: '60s' },
    };
    const first = await awaitOutcome(await deployFrom({}, 'v1'));
    expect(first.status).toBe('live');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('needs two distinct approvers; rejects the requester, strangers and repeats; takes approval from `temporal workflow signal`', async () => {
    const handle = await deployFrom(approvalFile, 'v2', 'alice');
    await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 'awaiting-approval');
    expect(await servedReleases(env)).toEqual(everyNode('v1'));

    expect(await rejection(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] }))).toBe(
      'alice requested this deployment and may not approve it (allowSelfApproval is false)',
    );
    expect(await rejection(handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory' }] }))).toMatch(/mallory is not an approver .*\(approvers: alice, bob, carol\)/);
    expect(await rejection(handle.executeUpdate(approveUpdate, { args: [{ by: '' }] }))).toMatch(/by is required/);

    const afterBob = await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', comment: 'looks good' }] });
    expect(afterBob.approvals.map((a) => a.by)).toEqual(['bob']);
    expect(afterBob.approvalsNeeded).toBe(1);
    expect(await rejection(handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] }))).toMatch(/bob has already approved/);
    // A repeated signal counts once too, and is recorded as rejected.
    await handle.signal(approveSignal, { by: 'bob' });
    const recorded = await waitForStatus(handle, (s) => s.events.some((e) => e.what.startsWith('rejected approve signal')), 'the rejected signal');
    expect(recorded.phase).toBe('awaiting-approval');
    expect(recorded.approvals).toHaveLength(1);

    await temporal('workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'approve', '--input', JSON.stringify({ by: 'carol' }));
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('live');
    await expectInvariant(env, outcome.nodes!);
    expect(await servedReleases(env)).toEqual(everyNode('v2'));
    const status = await handle.query(statusQuery);
    expect(status.approvals.map((a) => a.by)).toEqual(['bob', 'carol']);
  });

  it('ends aborted when approval times out, touching no node', async () => {
    const quick = { approval: { required: true, approvers: ['bob'], timeout: '2s' } };
    const handle = await deployFrom(quick, 'v3');
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('aborted');
    expect(outcome.error).toMatch(/approval timed out after 2s with 0 of 1 approvals/);
    expect(await startedChildren(handle.workflowId)).toBe(0);
    await expectInvariant(env, stack.nodeIds.map((id) => ({ id, release: 'v2' })));
  });

  it('aborts from the CLI while awaiting approval, touching no node; the CLI shows rejections at once', async () => {
    const handle = await deployFrom(approvalFile, 'v3', 'alice');
    await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 'awaiting-approval');
    const refused = await runGantry(['approve', stack.name, '--as', 'mallory'], stack.clientEnv);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('approve rejected: mallory is not an approver');
    const missingReason = await runGantry(['abort', stack.name, '--as', 'bob'], stack.clientEnv);
    expect(missingReason.code).toBe(4);
    expect(missingReason.stderr).toContain("required option '--reason <text>'");

    const aborted = await runGantry(['abort', stack.name, '--as', 'bob', '--reason', 'wrong tag', '--json'], stack.clientEnv);
    expect(aborted.code).toBe(0);
    expect((JSON.parse(aborted.stdout) as DeployStatus).events.at(-1)?.what).toBe('abort requested by bob: wrong tag');
    const outcome = await awaitOutcome(handle);
    expect(outcome).toMatchObject({ status: 'aborted', error: 'aborted by bob: wrong tag' });
    expect(await startedChildren(handle.workflowId)).toBe(0);
    await expectInvariant(env, outcome.nodes!.map((n) => ({ ...n, lb: undefined })));
    expect(await servedReleases(env)).toEqual(everyNode('v2'));
    const late = await runGantry(['abort', stack.name, '--as', 'bob', '--reason', 'again'], stack.clientEnv);
    expect(late.code).toBe(4);
  });

  it('aborted mid-rollout after one node is on the new release: every node goes back and stays enabled', async () => {
    const handle = await deployFrom({}, 'v3');
    await waitForStatus(handle, (s) => s.nodes[0]?.state === 'live', 'web-1 live on v3');
    const accepted = await handle.executeUpdate(abortUpdate, { args: [{ by: 'carol', reason: 'error rate up' }] });
    expect(accepted.events.at(-1)?.what).toBe('abort requested by carol: error rate up');
    const outcome = await awaitOutcome(handle);
    expect(outcome).toMatchObject({ status: 'aborted', error: 'aborted by carol: error rate up' });
    expect(outcome.undoFailures).toBeUndefined();
    await expectInvariant(env, outcome.nodes!);
    expect(await servedReleases(env)).toEqual(everyNode('v2'));
    // web-1 changed, so it was rolled back; web-3 never started.
    const rollbackActivities = await activityNames(stack.client, `${nodeWorkflowId(stack.name, 'web-1')}/rollback`);
    expect(rollbackActivities).toEqual(['drain', 'drain', 'activate', 'waitHealthy', 'enable']);
    const status = await handle.query(statusQuery);
    expect(status.nodes.find((n) => n.id === 'web-3')!.state).toBe('pending');
    // Once closed, the server itself refuses updates.
    await expect(handle.executeUpdate(abortUpdate, { args: [{ by: 'carol', reason: 'again' }] })).rejects.toThrow(/already completed/);
  });

  it('rolls back by itself when a node fails its health check, with zero failed requests through HAProxy', async () => {
    const strict = {
      healthCheck: { path: '/healthz', reportsRelease: true, interval: '200ms', successThreshold: 2, deadline: '4s' },
    };
    const load = startLoad(stack.haproxy.url);
    const handle = await deployFrom(strict, 'v-bad');
    const outcome = await awaitOutcome(handle);
    const report = await load.stop();

    expect(outcome.status).toBe('rolled-back');
    expect(outcome.cause).toMatchObject({ node: 'web-2', step: 'waitHealthy' });
    expect(outcome.cause!.error).toMatch(/status 500/);
    await expectInvariant(env, outcome.nodes!);
    expect(await servedReleases(env)).toEqual(everyNode('v2'));

    const events = (await handle.query(statusQuery)).events;
    const at = (what: string) => Date.parse(events.find((e) => e.what === what)!.time);
    console.log(`rollback of 2 changed nodes took ${at('phase rolled-back') - at('phase rolling-back')} ms; load: ${JSON.stringify({ sent: report.sent, ok: report.ok, non200: report.non200, errors: report.errors, failures: report.failures.slice(0, 5) })}`);
    expect(report.failures).toEqual([]);
    expect(report.sent).toBeGreaterThanOrEqual(300);
  });

  it('`temporal workflow cancel` mid-rollout still rolls every changed node back', async () => {
    const handle = await deployFrom({}, 'v3');
    await waitForStatus(handle, (s) => s.nodes[0]?.state === 'live', 'web-1 live on v3');
    await temporal('workflow', 'cancel', '--workflow-id', handle.workflowId);
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('aborted');
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    await expectInvariant(env, outcome.nodes!);
    expect(await servedReleases(env)).toEqual(everyNode('v2'));
  });

  it('pauses between batches and resumes', async () => {
    const handle = await deployFrom({}, 'v3');
    await waitForStatus(handle, (s) => s.nodes[0]?.state === 'deploying', 'web-1 deploying');
    await handle.executeUpdate(pauseUpdate, { args: [{ by: 'bob' }] });
    expect(await rejection(handle.executeUpdate(pauseUpdate, { args: [{ by: 'carol' }] }))).toBe('already paused by bob');
    const held = await waitForStatus(handle, (s) => s.events.some((e) => e.what === 'holding batch 2 until resumed'), 'batch 2 held');
    expect(held.paused).toBe(true);
    await sleep(1_000);
    expect(await servedReleases(env)).toEqual({ 'web-1': 'v3', 'web-2': 'v2', 'web-3': 'v2' });
    expect((await handle.query(statusQuery)).nodes.map((n) => n.state)).toEqual(['live', 'pending', 'pending']);

    const resumed = await handle.executeUpdate(resumeUpdate, { args: [{ by: 'bob' }] });
    expect(resumed.paused).toBe(false);
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('live');
    await expectInvariant(env, outcome.nodes!);
  });

  it('`gantry rollback` returns every node to the previous release without downloading it', async () => {
    expect(await servedReleases(env)).toEqual(everyNode('v3'));
    // Take the v2 artifact away: a rollback that tried to download it would fail.
    const artifact = stack.repo.releases.v2!.file;
    await rename(artifact, `${artifact}.gone`);
    try {
      const result = await runGantry(['rollback', stack.name, '--wait', '--json', '--requested-by', 'oncall'], stack.clientEnv);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const outcome = JSON.parse(result.stdout) as { status: string; release: string; runId: string; nodes: { id: string; release: string; lb: string }[] };
      expect(outcome).toMatchObject({ status: 'live', release: 'v2' });
      await expectInvariant(env, outcome.nodes);
      const parent = await activityNames(stack.client, deploymentWorkflowId(stack.name), outcome.runId);
      expect(parent).not.toContain('stage');
      expect(parent.filter((a) => a === 'isStaged')).toHaveLength(3);
      for (const id of stack.nodeIds) expect(await activityNames(stack.client, nodeWorkflowId(stack.name, id))).toEqual(['drain', 'drain', 'activate', 'waitHealthy', 'enable']);
    } finally {
      await rename(`${artifact}.gone`, artifact);
    }
  });
});
