// `gantry deploy --wait --json` as CI calls it: one JSON object on stdout and the documented exit code
// for every outcome, and a retried call attaching to the deployment it started.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome, type DeployOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { ExitCode } from '../cli/exit-codes';
import { waitUntil } from '../lib/core/wait';
import { deploymentWorkflowId, queueWorkflowId, statusQuery } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { expectInvariant } from './helpers/invariant';
import { startTestStack, type TestStack } from './helpers/stack';
import { loadEnvironmentFile } from '../lib/config/environment-file';

let stack: TestStack;
let approvalFile: Record<string, unknown>;

const sha = (release: string) => stack.repo.releases[release]!.sha256;
const gantry = (...args: string[]) => runGantry(args, stack.clientEnv);

/** Exactly one JSON object on stdout. */
function onlyJson(stdout: string): DeployOutcome {
  const lines = stdout.trim().split('\n');
  expect(lines, stdout).toHaveLength(1);
  return JSON.parse(lines[0]!) as DeployOutcome;
}

describe('gantry deploy --wait --json for CI', () => {
  beforeAll(async () => {
    stack = await startTestStack({ releases: ['v1', 'v2', 'v3', { release: 'v4', unhealthyOn: ['web-2'] }] });
    approvalFile = { approval: { required: true, approvers: ['alice', 'bob'], minApprovals: 1, timeout: '5m' } };
    const first = await startDeployment(stack.client, stack.name, 'v1', { sha256: sha('v1'), requestedBy: 'setup', taskQueue: stack.taskQueue });
    expect((await awaitOutcome(first)).status).toBe('live');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('exit 2 and status rolled-back when the release fails its health check', async () => {
    const run = await gantry('deploy', stack.name, 'v4', '--sha256', sha('v4'), '--wait', '--json', '--requested-by', 'ci-bot');
    expect(run.code).toBe(ExitCode.failed);
    const outcome = onlyJson(run.stdout);
    expect(outcome).toMatchObject({ workflowId: deploymentWorkflowId(stack.name), status: 'rolled-back', release: 'v4', cause: { node: 'web-2' } });
    expect(outcome.nodes!.map((n) => n.release)).toEqual(['v1', 'v1', 'v1']);
    await expectInvariant(await loadEnvironmentFile(stack.envFile), outcome.nodes!);
  });

  it('a retried call attaches (exit 0, same run), another request is queued behind it (exit 0), an abort ends in exit 3', async () => {
    await stack.define(approvalFile);
    const waiting = gantry('deploy', stack.name, 'v2', '--sha256', sha('v2'), '--wait', '--json', '--requested-by', 'ci-bot');
    const handle = stack.client.workflow.getHandle(deploymentWorkflowId(stack.name));
    const awaiting = await waitUntil(async () => (await handle.query(statusQuery).catch(() => undefined))?.phase === 'awaiting-approval', 60_000, 100);
    expect(awaiting).toBe(true);
    const runId = (await handle.describe()).runId;

    const retried = await gantry('deploy', stack.name, 'v2', '--sha256', sha('v2'), '--json', '--requested-by', 'ci-bot');
    expect(retried.code).toBe(ExitCode.ok);
    expect(onlyJson(retried.stdout)).toMatchObject({ status: 'started', runId, release: 'v2' });

    const other = await gantry('deploy', stack.name, 'v3', '--sha256', sha('v3'), '--json', '--requested-by', 'someone-else');
    expect(other.code).toBe(ExitCode.ok);
    const queued = onlyJson(other.stdout);
    expect(queued).toMatchObject({ status: 'queued', workflowId: queueWorkflowId(stack.name), release: 'v3', queue: { status: 'queued', position: 1, hold: { kind: 'running' } } });
    expect(queued.queue!.hold!.what).toContain(`${deploymentWorkflowId(stack.name)} (run ${runId}) is deploying v2`);

    const invalid = await gantry('deploy', stack.name, 'v3', '--sha256', 'not-a-digest', '--json');
    expect(invalid.code).toBe(ExitCode.rejected);
    expect(onlyJson(invalid.stdout)).toMatchObject({ status: 'rejected', error: expect.stringContaining('--sha256') as unknown });

    const abort = await gantry('abort', stack.name, '--as', 'alice', '--reason', 'wrong day');
    expect(abort.code).toBe(ExitCode.ok);
    const finished = await waiting;
    expect(finished.code).toBe(ExitCode.aborted);
    expect(onlyJson(finished.stdout)).toMatchObject({ status: 'aborted', runId, release: 'v2' });
  });
});
