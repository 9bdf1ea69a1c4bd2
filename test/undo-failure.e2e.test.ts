// An undo that fails (issue 16): an abort whose rollback cannot put a node back (its old release is
// gone from the node) ends `aborted` with the node in undoFailures, exits 5 (not a clean abort's 3),
// and `gantry repair` then brings the fleet to one release.
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeployOutcome } from '../client/deployments';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { waitUntil } from '../lib/core/wait';
import { abortUpdate, deploymentWorkflowId, statusQuery } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { expectInvariant, servedReleases } from './helpers/invariant';
import { startLiveStack, type TestStack } from './helpers/stack';

let stack: TestStack;
let env: Environment;

describe('an undo that fails', () => {
  beforeAll(async () => {
    stack = await startLiveStack(['v1', 'v2']);
    env = await loadEnvironmentFile(stack.envFile);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('is reported, exits 5, and gantry repair puts the fleet right after it', async () => {
    await stack.define({ rollout: { batchSize: 1, pauseBetweenBatches: '5m' } });
    const waiting = runGantry(['deploy', stack.name, 'v2', '--sha256', stack.repo.releases.v2!.sha256, '--wait', '--json', '--requested-by', 'alice'], stack.clientEnv);
    const handle = stack.client.workflow.getHandle(deploymentWorkflowId(stack.name));
    expect(await waitUntil(async () => (await handle.query(statusQuery).catch(() => undefined))?.events.some((e) => e.what.startsWith('pausing')) === true, 60_000, 50)).toBe(true);
    // web-1 runs v2; the release it would go back to is gone from it.
    await rm(path.join(stack.nodeRoot('web-1'), 'releases', 'v1'), { recursive: true, force: true });
    await handle.executeUpdate(abortUpdate, { args: [{ by: 'carol', reason: 'error rate up' }] });

    const deployed = await waiting;
    expect(deployed.code, deployed.stderr).toBe(5);
    const outcome = JSON.parse(deployed.stdout) as DeployOutcome;
    expect(outcome.status).toBe('aborted');
    expect(outcome.undoFailures?.map((u) => u.node)).toEqual(['web-1']);
    expect(outcome.undoFailures![0]!.error).toMatch(/not staged/);
    expect(await servedReleases(env)).toMatchObject({ 'web-2': 'v1', 'web-3': 'v1' });

    await stack.define({ rollout: { batchSize: 1 } });
    const repaired = await runGantry(['repair', stack.name, '--to', 'v2', '--wait', '--json', '--requested-by', 'alice'], stack.clientEnv);
    expect(repaired.code, repaired.stderr).toBe(0);
    const fixed = JSON.parse(repaired.stdout) as DeployOutcome;
    await expectInvariant(env, fixed.nodes!);
    expect(await servedReleases(env)).toEqual({ 'web-1': 'v2', 'web-2': 'v2', 'web-3': 'v2' });
  });
});
