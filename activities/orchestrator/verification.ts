// Deciding whether a release may go out: the tag on the canonical remote (via a fetched mirror), its
// signature, CI checks on its commit, the artifact's digest; and which changes it carries.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ArtifactError, sha256Of } from '../../lib/release/artifact';
import { CiStatusError, githubChecks, judgeChecks, RateLimited } from '../../lib/source/ci-status';
import type { CiConfig, Environment } from '../../lib/config/environment-schema';
import { GitError, GitMirror, type Commit } from '../../lib/source/git-mirror';
import type { Logger } from '../../lib/core/logger';
import { verifyTag, VerificationError, type VerifiedTag } from '../../lib/source/tag-verification';
import { sleep } from '../../lib/core/wait';
import { failureTypes } from '../../lib/core/failure-types';
import { withHeartbeat } from '../heartbeat';
import { hostOf, isUnreachable, unreachable } from '../unreachable';

export const MAX_CHANGES = 200;
const GIT_ATTEMPTS = 5;

export interface VerificationDeps {
  logger: Logger;
  mirrorsDir: string;
  /** Where tokens are read; the worker's environment by default. */
  env?: NodeJS.ProcessEnv;
}

export interface ChangeList {
  from: string | null;
  to: string;
  /** Newest first, at most MAX_CHANGES. */
  commits: Commit[];
  total: number;
}

export function createVerificationActivities({ logger, mirrorsDir, env = process.env }: VerificationDeps) {
  const mirrorOf = (remote: string) => new GitMirror(remote, mirrorsDir);
  // A remote that cannot be reached may come back: retried for the source's unreachableTimeout. Any
  // other git failure (a refused credential, a corrupt mirror) gets a few tries.
  const gitUnavailable =
    (remote: string, timeoutMs?: number) =>
    (err: unknown): never => {
      if (!(err instanceof GitError)) throw err;
      if (isUnreachable(err)) unreachable(err, 'git remote', hostOf(remote), timeoutMs);
      if (Context.current().info.attempt >= GIT_ATTEMPTS) throw ApplicationFailure.nonRetryable(err.message, failureTypes.gitUnavailable);
      throw ApplicationFailure.retryable(err.message, failureTypes.gitUnavailable);
    };

  return {
    async verifyTag({ source, tag, commit, artifactSha256 }: { source: Environment['source']; tag: string; commit?: string; artifactSha256?: string }): Promise<VerifiedTag> {
      const mirror = mirrorOf(source.remote);
      const gitFailed = gitUnavailable(source.remote, source.unreachableTimeout);
      // git may run for minutes on a big repository: the heartbeat says the worker is alive meanwhile.
      await withHeartbeat(() => mirror.update(), () => ({ step: 'fetch' })).catch(gitFailed);
      try {
        const verified = await withHeartbeat(() => verifyTag(mirror, tag, source, commit, artifactSha256), () => ({ step: 'verify' }));
        logger.info({ tag, commit: verified.commit, signed: verified.signed }, 'tag verified');
        return verified;
      } catch (err) {
        if (err instanceof VerificationError) throw ApplicationFailure.nonRetryable(err.message, err.type);
        return gitFailed(err);
      }
    },

    async listChanges({ remote, from, to, unreachableTimeoutMs }: { remote: string; from: string | null; to: string; unreachableTimeoutMs?: number }): Promise<ChangeList> {
      const mirror = mirrorOf(remote);
      const gitFailed = gitUnavailable(remote, unreachableTimeoutMs);
      // The previous release's tag may be gone from the remote; then list what `to` carries.
      const known = from !== null && (await mirror.tag(from).catch(gitFailed)) !== undefined;
      const { commits, total } = await withHeartbeat(() => mirror.commitsBetween(known ? from : undefined, to, MAX_CHANGES)).catch(gitFailed);
      return { from: known ? from : null, to, commits, total };
    },

    /**
     * batch: of `releases` (oldest first), the newest whose required checks all passed, asked once each,
     * newest first; the ones that failed, and the newer ones still pending (they wait for a later batch).
     */
    async newestGreen({ source, ci, releases }: { source: Environment['source']; ci: CiConfig; releases: string[] }): Promise<{ green: string | null; failed: { release: string; why: string }[]; pending: string[] }> {
      const failed: { release: string; why: string }[] = [];
      const pending: string[] = [];
      if (ci.provider === 'none') return { green: releases.at(-1) ?? null, failed, pending };
      const mirror = mirrorOf(source.remote);
      await withHeartbeat(() => mirror.update(), () => ({ step: 'fetch' })).catch(gitUnavailable(source.remote, source.unreachableTimeout));
      const token = env[ci.tokenEnv];
      for (const release of [...releases].reverse()) {
        Context.current().heartbeat({ release });
        const tag = await mirror.tag(release);
        if (!tag) {
          failed.push({ release, why: `tag ${release} is not on ${source.remote}` });
          continue;
        }
        let verdict;
        try {
          verdict = judgeChecks(await githubChecks({ apiUrl: ci.apiUrl, repository: ci.repository, commit: tag.commit, token }, Context.current().cancellationSignal), ci.requiredChecks, ci.allowNoChecks);
        } catch (err) {
          // Cannot tell now (GitHub down, rate limited): the deployment's own gate waits for it.
          logger.warn({ release, error: (err as Error).message }, 'checks unreadable while picking a batch; taking the newest');
          return { green: releases.at(-1) ?? null, failed, pending };
        }
        if (verdict.verdict === 'pass') return { green: release, failed, pending };
        if (verdict.verdict === 'fail') failed.push({ release, why: `check "${verdict.failed.name}" failed on commit ${tag.commit}` });
        else pending.push(release);
      }
      return { green: null, failed, pending };
    },

    /** Waits for the commit's checks; the deadline survives retries through the heartbeat details. */
    async waitForChecks({
      ci,
      commit,
      reportUnavailable,
      startedAt: firstAsked,
    }: {
      ci: CiConfig;
      commit: string;
      reportUnavailable?: boolean;
      startedAt?: number;
    }): Promise<{ checks: string[]; unavailable?: { since: string; error: string } }> {
      if (ci.provider === 'none') return { checks: [] };
      const ctx = Context.current();
      const carried = ctx.info.heartbeatDetails as { startedAt?: number; unavailableSince?: number; seenPending?: boolean } | undefined;
      // Checks seen pending (in this attempt or an earlier one): an outage after that is waited out, never handed to an operator.
      let seenPending = carried?.seenPending === true;
      const startedAt = firstAsked ?? carried?.startedAt ?? Date.now();
      // Definitions from before whenUnavailable let the attempt fail (and the activity's retries decide).
      const rideOut = (ci.whenUnavailable as string | undefined) !== undefined;
      let unavailableSince = carried?.unavailableSince;
      const token = env[ci.tokenEnv];
      for (;;) {
        let verdict;
        try {
          verdict = judgeChecks(await githubChecks({ apiUrl: ci.apiUrl, repository: ci.repository, commit, token }, ctx.cancellationSignal), ci.requiredChecks, ci.allowNoChecks);
          unavailableSince = undefined;
        } catch (err) {
          if (err instanceof CiStatusError && err.permanent) throw ApplicationFailure.nonRetryable(err.message, failureTypes.checksUnavailable);
          if (rideOut && !(err instanceof RateLimited) && !ctx.cancellationSignal.aborted) {
            // GitHub down or unreachable: keep asking until the deadline; say so in the heartbeat (gantry status and why read it).
            unavailableSince ??= Date.now();
            const error = (err as Error).message;
            const waited = Math.round((Date.now() - startedAt) / 1000);
            if (Date.now() - startedAt + ci.pollInterval > ci.deadline) {
              throw ApplicationFailure.nonRetryable(`checks on commit ${commit} could not be read for ${waited} s (ci.deadline): ${ci.apiUrl} ${error}`, failureTypes.checksUnavailable);
            }
            ctx.heartbeat({ startedAt, unavailableSince, seenPending, waitingFor: [`${ci.apiUrl} to answer (unreachable since ${new Date(unavailableSince).toISOString()}: ${error})`] });
            // Operator mode: once it has failed for a poll interval, hand the choice to the workflow — unless the checks were seen pending.
            if (reportUnavailable && !seenPending && Date.now() - unavailableSince >= ci.pollInterval) return { checks: [], unavailable: { since: new Date(unavailableSince).toISOString(), error } };
            logger.warn({ commit, error }, 'CI provider unavailable; asking again');
            await sleep(ci.pollInterval, undefined, { signal: ctx.cancellationSignal });
            continue;
          }
          if (!(err instanceof RateLimited)) throw err;
          // Asking sooner would only be refused again; past the deadline it is a time-out that says why.
          const left = ci.deadline - (Date.now() - startedAt);
          if (err.retryAfterMs > left) {
            throw ApplicationFailure.nonRetryable(`checks on commit ${commit} could not be read before the deadline: ${err.message}`, failureTypes.checksTimedOut);
          }
          logger.warn({ commit, retryAfterMs: err.retryAfterMs }, 'GitHub rate limit; waiting as it asks');
          ctx.heartbeat({ startedAt, waitingFor: [`GitHub rate limit, ${Math.ceil(err.retryAfterMs / 1000)} s`] });
          await sleepHeartbeating(err.retryAfterMs, () => ctx.heartbeat({ startedAt, waitingFor: ['GitHub rate limit'] }), ctx.cancellationSignal);
          continue;
        }
        if (verdict.verdict === 'pass') return { checks: verdict.checks.map((c) => c.name) };
        if (verdict.verdict === 'fail') {
          throw ApplicationFailure.nonRetryable(
            `check "${verdict.failed.name}" failed on commit ${commit}${verdict.failed.url ? `: ${verdict.failed.url}` : ''}; fix it and tag a new release`,
            failureTypes.checksFailed,
          );
        }
        seenPending = true;
        ctx.heartbeat({ startedAt, seenPending, waitingFor: verdict.waitingFor });
        if (Date.now() - startedAt + ci.pollInterval > ci.deadline) {
          const none = verdict.waitingFor.includes('any check to be reported');
          throw ApplicationFailure.nonRetryable(
            none
              ? `no CI check was reported on commit ${commit} within ${Math.round((Date.now() - startedAt) / 1000)} s; if this repository has no CI, set ci.allowNoChecks: true, otherwise name ci.requiredChecks`
              : `checks still pending on commit ${commit} after ${Math.round((Date.now() - startedAt) / 1000)} s: ${verdict.waitingFor.join(', ')}`,
            failureTypes.checksTimedOut,
          );
        }
        await sleep(ci.pollInterval, undefined, { signal: ctx.cancellationSignal });
      }
    },

    /** Hashes the artifact once, streaming, before any node is touched. */
    async verifyArtifact({ url, sha256, unreachableTimeoutMs }: { url: string; sha256: string; unreachableTimeoutMs?: number }): Promise<{ bytes: number }> {
      const ctx = Context.current();
      let bytes = 0;
      let actual: string;
      try {
        actual = await sha256Of(url, ctx.cancellationSignal, (total) => {
          bytes = total;
          ctx.heartbeat({ bytes, progressAt: Date.now() });
        });
      } catch (err) {
        if (err instanceof ArtifactError && err.permanent) throw ApplicationFailure.nonRetryable(err.message, err.code);
        if (isUnreachable(err)) unreachable(err, `artifact ${url}`, hostOf(url), unreachableTimeoutMs);
        throw err;
      }
      if (actual !== sha256) {
        throw ApplicationFailure.nonRetryable(
          `artifact ${url} has sha256 ${actual}, not the ${sha256} given; check --sha256 against the artifact that was built`,
          failureTypes.digestMismatch,
        );
      }
      return { bytes };
    },
  };
}

/** Sleeps `ms`, heartbeating every 10 s so a long wait is not taken for a dead worker. */
async function sleepHeartbeating(ms: number, beat: () => void, signal: AbortSignal): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await sleep(Math.min(10_000, until - Date.now()), undefined, { signal });
    beat();
  }
}

export type VerificationActivities = ReturnType<typeof createVerificationActivities>;
