// CI checks through the GitHub provider, against a local server speaking GitHub's wire format.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerificationActivities, type VerificationActivities } from '../activities/orchestrator/verification';
import { ciSchema } from '../lib/config/environment-schema';
import { createLogger } from '../lib/core/logger';
import { startGithubApi } from './helpers/github-api';
import { caught } from './helpers/caught';

let api: Awaited<ReturnType<typeof startGithubApi>>;
let activities: VerificationActivities;
const sha = (n: number) => n.toString(16).padStart(40, 'a');
const ok = { context: 'build', state: 'success' as const, target_url: 'https://ci.example/build/1' };

const ci = (overrides: Record<string, unknown> = {}) =>
  ciSchema.parse({ provider: 'github', repository: 'acme/shop', apiUrl: api.url, requiredChecks: ['build', 'test'], pollInterval: '100ms', deadline: '3s', ...overrides });
const waitFor = (commit: string, config = ci()) => new MockActivityEnvironment().run((input) => activities.waitForChecks(input), { ci: config, commit });

async function refusal(promise: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await caught(promise);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('GitHub checks', () => {
  beforeAll(async () => {
    api = await startGithubApi();
    activities = createVerificationActivities({ logger: createLogger('test', 'silent'), mirrorsDir: '/nonexistent', env: { CI_TOKEN: 's3cret' } });
  });
  afterAll(async () => api?.close());

  it('passes when every required status and check run succeeded, sending the token from the worker environment', async () => {
    api.script.set(sha(1), [{ statuses: [ok], checkRuns: [{ id: 1, name: 'test', status: 'completed', conclusion: 'success' }] }]);
    expect(await waitFor(sha(1), ci({ tokenEnv: 'CI_TOKEN' }))).toEqual({ checks: ['build', 'test'] });
    expect(api.seenTokens.at(-1)).toBe('Bearer s3cret');
  });

  it('fails naming the failed required check and its URL; a newer re-run wins over an older failure', async () => {
    api.script.set(sha(2), [
      {
        statuses: [ok],
        checkRuns: [
          { id: 7, name: 'test', status: 'completed', conclusion: 'failure', html_url: 'https://github.com/acme/shop/runs/7' },
          { id: 3, name: 'test', status: 'completed', conclusion: 'success' },
        ],
      },
    ]);
    const failure = await refusal(waitFor(sha(2)));
    expect(failure.type).toBe('ChecksFailed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(`check "test" failed on commit ${sha(2)}: https://github.com/acme/shop/runs/7; fix it and tag a new release`);

    api.script.set(sha(3), [
      { statuses: [ok], checkRuns: [{ id: 3, name: 'test', status: 'completed', conclusion: 'failure' }, { id: 9, name: 'test', status: 'completed', conclusion: 'success' }] },
    ]);
    expect(await waitFor(sha(3))).toEqual({ checks: ['build', 'test'] });
  });

  it('waits for pending checks, then passes', async () => {
    api.script.set(sha(4), [
      { statuses: [{ context: 'build', state: 'pending' }], checkRuns: [] },
      { statuses: [ok], checkRuns: [{ id: 1, name: 'test', status: 'in_progress', conclusion: null }] },
      { statuses: [ok], checkRuns: [{ id: 1, name: 'test', status: 'completed', conclusion: 'success' }] },
    ]);
    expect(await waitFor(sha(4))).toEqual({ checks: ['build', 'test'] });
    expect(api.script.get(sha(4))).toHaveLength(1);
  });

  it('gives up when checks are still pending at the deadline', async () => {
    api.script.set(sha(5), [{ statuses: [ok], checkRuns: [{ id: 1, name: 'test', status: 'queued', conclusion: null }] }]);
    const failure = await refusal(waitFor(sha(5), ci({ deadline: '1s' })));
    expect(failure.type).toBe('ChecksTimedOut');
    expect(failure.message).toMatch(new RegExp(`checks still pending on commit ${sha(5)} after \\d+ s: test`));
  });

  it('says so when the repository is unknown', async () => {
    const failure = await refusal(waitFor(sha(6)));
    expect(failure.type).toBe('ChecksUnavailable');
    expect(failure.message).toContain('GitHub API answered 404');
  });

  it('waits for checks to appear on a commit with none reported, and fails at the deadline saying how to allow it', async () => {
    const none = { statuses: [], checkRuns: [] };
    api.script.set(sha(20), [none, none, none, { statuses: [ok], checkRuns: [] }]);
    expect(await waitFor(sha(20), ci({ requiredChecks: [] }))).toEqual({ checks: ['build'] });

    api.script.set(sha(21), [none]);
    const failure = await refusal(waitFor(sha(21), ci({ requiredChecks: [], deadline: '1s' })));
    expect(failure.type).toBe('ChecksTimedOut');
    expect(failure.message).toContain(`no CI check was reported on commit ${sha(21)}`);
    expect(failure.message).toContain('set ci.allowNoChecks: true');

    expect(await waitFor(sha(21), ci({ requiredChecks: [], allowNoChecks: true }))).toEqual({ checks: [] });
  });

  it.each([
    ['403 with x-ratelimit-remaining: 0', { status: 403 as const, resetInSeconds: 2 }],
    ['429 with retry-after', { status: 429 as const, retryAfterSeconds: 2 }],
  ])('waits out a GitHub rate limit (%s) for the advertised time, then passes', async (_what, rateLimited) => {
    const commit = sha(rateLimited.status);
    api.script.set(commit, [{ rateLimited }, { statuses: [ok], checkRuns: [{ id: 1, name: 'test', status: 'completed', conclusion: 'success' }] }]);
    const from = api.answered.length;
    expect(await waitFor(commit, ci({ deadline: '30s' }))).toEqual({ checks: ['build', 'test'] });
    const seen = api.answered.slice(from);
    const limitedAt = seen.find((a) => a.limited)!.at;
    const nextAt = seen.find((a) => !a.limited)!.at;
    // Not before the time GitHub named (reset is whole seconds, so at least 1 s of the 2).
    expect(nextAt - limitedAt).toBeGreaterThanOrEqual(1_000);
  });

  it('a rate limit that outlasts the deadline fails as a time-out that says so', async () => {
    api.script.set(sha(30), [{ rateLimited: { status: 429, retryAfterSeconds: 3600 } }]);
    const failure = await refusal(waitFor(sha(30), ci({ deadline: '5s' })));
    expect(failure.type).toBe('ChecksTimedOut');
    expect(failure.message).toContain('GitHub API rate limit reached (HTTP 429)');
  });

  it('rides out GitHub being down until it answers (whenUnavailable: wait), and fails at the deadline naming the error', async () => {
    const down = { down: 503 as const };
    api.script.set(sha(20), [down, down, down, { statuses: [ok], checkRuns: [{ id: 1, name: 'test', status: 'completed', conclusion: 'success' }] }]);
    expect(await waitFor(sha(20))).toEqual({ checks: ['build', 'test'] });
    api.script.set(sha(21), [down]);
    const failure = await refusal(waitFor(sha(21), ci({ deadline: '1s' })));
    expect(failure.type).toBe('ChecksUnavailable');
    expect(failure.message).toMatch(new RegExp(`checks on commit ${sha(21)} could not be read for \\d+ s \\(ci.deadline\\): .*GitHub API answered 503`));
  });

  it('hands an outage to the workflow after a poll interval when asked to (whenUnavailable: operator), never pending or failing checks', async () => {
    api.script.set(sha(22), [{ down: 502 }]);
    const env = new MockActivityEnvironment();
    const answer = await env.run((input) => activities.waitForChecks(input), { ci: ci({ whenUnavailable: 'operator' }), commit: sha(22), reportUnavailable: true, startedAt: Date.now() });
    expect(answer).toMatchObject({ checks: [], unavailable: { error: expect.stringContaining('GitHub API answered 502') as unknown } });
    api.script.set(sha(23), [{ statuses: [{ context: 'build', state: 'pending' }], checkRuns: [] }, { statuses: [ok], checkRuns: [{ id: 1, name: 'test', status: 'completed', conclusion: 'success' }] }]);
    expect(await new MockActivityEnvironment().run((input) => activities.waitForChecks(input), { ci: ci({ whenUnavailable: 'operator' }), commit: sha(23), reportUnavailable: true })).toEqual({ checks: ['build', 'test'] });
  });
});
