// Fail fast on what cannot succeed (issue 16): an artifact host that refuses connections is retried
// for the definition's artifact.unreachableTimeout, not half an hour, and meanwhile `gantry status`
// says which host, which attempt and the last error; past the bound the deployment fails with them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import type { WaitingStep } from '../client/waiting-steps';
import { startDeployment } from '../cli/commands/deploy';
import { freePort } from '../devkit/local/ports';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { sleep } from '../lib/core/wait';
import { runGantry } from './helpers/cli';
import { servedReleases } from './helpers/invariant';
import { startTestStack, type TestStack } from './helpers/stack';

let stack: TestStack;

describe('an artifact host that refuses connections', () => {
  beforeAll(async () => {
    stack = await startTestStack({ releases: ['v1', 'v2'] });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('shows in gantry status within 10 s with the host, the attempt and the last error, and fails with them at the bound', async () => {
    const first = await awaitOutcome(await startDeployment(stack.client, stack.name, 'v1', { sha256: stack.repo.releases.v1!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue }));
    expect(first.status).toBe('live');
    const port = await freePort(); // nothing listens there
    await stack.define({ artifact: { url: `http://127.0.0.1:${port}/app-{release}.tgz`, unreachableTimeout: '12s' } });
    const env = await loadEnvironmentFile(stack.envFile);
    const before = await servedReleases(env);
    const started = Date.now();
    const handle = await startDeployment(stack.client, stack.name, 'v2', { sha256: stack.repo.releases.v2!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue });

    let seen: WaitingStep | undefined;
    while (!seen && Date.now() - started < 10_000) {
      const status = await runGantry(['status', stack.name, '--json'], stack.clientEnv);
      expect(status.code, status.stderr).toBe(0);
      seen = (JSON.parse(status.stdout) as { waiting?: WaitingStep[] }).waiting?.find((step) => step.activity === 'verifyArtifact' && step.attempt >= 2);
      if (!seen) await sleep(300);
    }
    expect(seen, 'gantry status named no retried step within 10 s').toBeDefined();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(seen!.lastError).toContain(`127.0.0.1:${port} unreachable, attempt ${seen!.attempt - 1}`);
    expect(seen!.lastError).toContain('ECONNREFUSED');

    const human = await runGantry(['status', stack.name], stack.clientEnv);
    expect(human.stdout).toMatch(new RegExp(`retrying verifyArtifact \\(deploy/${stack.name}\\), attempt \\d+: .*127\\.0\\.0\\.1:${port} unreachable`));

    const outcome = await awaitOutcome(handle);
    const took = Date.now() - started;
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatch(new RegExp(`127\\.0\\.0\\.1:${port} could not be reached for \\d+s \\(\\d+ attempts, the limit is 12s\\); last error: .*ECONNREFUSED`));
    expect(took).toBeGreaterThanOrEqual(12_000);
    expect(took).toBeLessThan(40_000);
    // Nothing on the fleet changed.
    expect(await servedReleases(env)).toEqual(before);
    console.log(`refused artifact host: seen in status after attempt ${seen!.attempt}, failed after ${(took / 1000).toFixed(1)} s`);
  });
});
