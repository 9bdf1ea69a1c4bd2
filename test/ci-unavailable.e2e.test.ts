// GitHub is not a single point of failure: with ci.whenUnavailable: operator, a deployment whose CI
// provider cannot be asked waits and says so, and an operator may accept going on without the checks
// (the tag is still verified; the result records what went unchecked and who accepted it). Checks that
// are merely pending can never be skipped that way.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { freePort } from '../devkit/local/ports';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { waitUntil } from '../lib/core/wait';
import { abortUpdate, statusQuery } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { startGithubApi } from './helpers/github-api';
import { servedReleases } from './helpers/invariant';
import { startTestStack, type TestStack } from './helpers/stack';

let stack: TestStack;
let github: Awaited<ReturnType<typeof startGithubApi>>;

const deploy = (release: string) => startDeployment(stack.client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue });
const ci = (apiUrl: string) => ({ ci: { provider: 'github', repository: 'acme/shop', apiUrl, requiredChecks: ['build'], tokenEnv: 'CI_TEST_TOKEN', pollInterval: '300ms', deadline: '5m', whenUnavailable: 'operator' } });

describe('when GitHub cannot be asked', () => {
  beforeAll(async () => {
    github = await startGithubApi();
    stack = await startTestStack({ workerEnv: { CI_TEST_TOKEN: 'token' } });
    expect((await awaitOutcome(await deploy('v1'))).status).toBe('live');
  });
  afterAll(async () => {
    await stack?.close();
    await github?.close();
  });

  it('waits saying why, and goes on when an operator accepts, recording what went unchecked and who accepted it', async () => {
    // Nothing listens there: connection refused, as when GitHub is unreachable.
    await stack.define(ci(`http://127.0.0.1:${await freePort()}`));
    const handle = await deploy('v2');
    expect(await waitUntil(async () => (await handle.query(statusQuery)).ciUnavailable !== undefined, 30_000, 100)).toBe(true);
    const why = await runGantry(['why', stack.name, '--json'], stack.clientEnv);
    expect(JSON.parse(why.stdout)).toMatchObject({ kind: 'checks', what: expect.stringContaining(`cannot read the CI checks on commit ${stack.repo.releases.v2!.commit}`) as unknown });
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(Object.fromEntries(stack.nodeIds.map((id) => [id, 'v1'])));

    const accepted = await runGantry(['accept-unchecked', stack.name, '--as', 'bob', '--reason', 'GitHub outage, build verified by hand'], stack.clientEnv);
    expect(accepted.code, accepted.stderr).toBe(0);
    const outcome = await awaitOutcome(handle);
    expect(outcome.status, outcome.error).toBe('live');
    const result = (await handle.result());
    expect(result.unchecked).toMatchObject({ by: 'bob', reason: 'GitHub outage, build verified by hand', commit: stack.repo.releases.v2!.commit, checks: ['build'] });
    expect(result.unchecked!.error).toMatch(/ECONNREFUSED|fetch failed/);
    // The tag was verified as ever; only the checks went unasked, and the log says who let it through.
    const events = (await handle.query(statusQuery)).events.map((e) => e.what);
    expect(events).toContain(`tag v2 is commit ${stack.repo.releases.v2!.commit}`);
    expect(events.some((e) => e.startsWith(`bob accepted going on without the CI checks on commit ${stack.repo.releases.v2!.commit} (build)`))).toBe(true);
  });

  it('refuses to skip checks that are only pending', async () => {
    await stack.define(ci(github.url));
    github.script.set(stack.repo.releases.v3!.commit, [{ statuses: [], checkRuns: [{ id: 1, name: 'build', status: 'in_progress', conclusion: null }] }]);
    const handle = await deploy('v3');
    expect(await waitUntil(() => Promise.resolve(github.answered.length > 0), 30_000, 100)).toBe(true);
    const refused = await runGantry(['accept-unchecked', stack.name, '--as', 'bob', '--reason', 'impatient'], stack.clientEnv);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('the CI checks are not unreadable: nothing to accept (pending or failing checks are never skipped');
    await handle.executeUpdate(abortUpdate, { args: [{ by: 'alice', reason: 'test over' }] });
    expect((await awaitOutcome(handle)).status).toBe('aborted');
    expect(await servedReleases(await loadEnvironmentFile(stack.envFile))).toEqual(Object.fromEntries(stack.nodeIds.map((id) => [id, 'v2'])));
  });
});
