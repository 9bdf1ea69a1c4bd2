// Where a promotion comes from: the upstream environment's recorded deployments (its `deploy/<env>`
// runs, read from the server, not from any caller), the run that made the release live, how long it
// stayed live, and the artifact digest it ran. A refusal is permanent and says what would allow it.
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { formatDuration } from '../../lib/config/duration';
import { failureTypes } from '../../lib/core/failure-types';
import type { Logger } from '../../lib/core/logger';

/** What a promotion deploys: the upstream run that made the release live, and its artifact. */
export interface PromotionSource {
  from: string;
  release: string;
  sha256: string;
  commit: string | null;
  workflowId: string;
  runId: string;
  liveSince: string;
  /** When a newer release replaced it upstream; null: still live there. */
  replacedAt: string | null;
  liveForMs: number;
  bakeMs: number;
}

/** The part of a deployment's recorded result a promotion reads. */
interface RecordedResult {
  status: string;
  release: string;
  commit: string | null;
  artifactSha256: string | null;
}

/** The deployment workflow's id (workflows/api.ts names it the same way; activities sit below workflows). */
const deploymentWorkflowId = (environment: string) => `deploy/${environment}`;

/** The newest runs looked at: far more than a stage deploys between two promotions. */
const RUNS_READ = 200;

const refuse = (message: string) => ApplicationFailure.nonRetryable(message, failureTypes.promotionRefused);

/** The runs of `environment`'s deployments that went live, newest first (ended after `after`, when given); results read one at a time. */
async function* liveRuns(client: Client, environment: string, after?: Date): AsyncGenerator<{ runId: string; closeTime: Date; result: RecordedResult }> {
  const workflowId = deploymentWorkflowId(environment);
  const since = after ? ` AND CloseTime > '${after.toISOString()}'` : '';
  const runs: { runId: string; closeTime: Date }[] = [];
  for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}' AND ExecutionStatus = 'Completed'${since}` })) {
    if (run.closeTime) runs.push({ runId: run.runId, closeTime: run.closeTime });
    if (runs.length >= RUNS_READ) break;
  }
  runs.sort((a, b) => b.closeTime.getTime() - a.closeTime.getTime());
  for (const run of runs) {
    const result = (await client.workflow.getHandle(workflowId, run.runId).result()) as RecordedResult;
    if (result.status === 'live') yield { ...run, result };
  }
}

export function createPromotionActivities({ logger }: { logger: Logger }) {
  return {
    /**
     * promotion.auto: the release live on `from` now, if it has baked there and `to` has never had a
     * deployment of it (live, failed or running): each release is offered once, so a failed one is not retried.
     */
    async promotionCandidate({ from, to, bakeMs }: { from: string; to: string; bakeMs: number }): Promise<{ release: string | null; why: string }> {
      const { client } = Context.current();
      // The newest completed run may be one that changed nothing live (aborted): the newest live one counts.
      let live: { release: string; at: Date } | undefined;
      for await (const run of liveRuns(client, from)) {
        live = { release: run.result.release, at: run.closeTime };
        break;
      }
      if (!live) return { release: null, why: `nothing has gone live on ${from} yet` };
      const baked = Date.now() - live.at.getTime();
      if (baked < bakeMs) return { release: null, why: `${live.release} is baking on ${from} (${formatDuration(baked)} of ${formatDuration(bakeMs)})` };
      for await (const run of client.workflow.list({ query: `WorkflowId = '${deploymentWorkflowId(to)}' AND GantryRelease = '${live.release}'` })) {
        return { release: null, why: `${live.release} was deployed to ${to} already (run ${run.runId}, ${run.status.name})` };
      }
      // Never over something newer: a release that went live downstream after this one went live upstream (a hotfix) stays.
      for await (const { result } of liveRuns(client, to, live.at)) {
        return { release: null, why: `${to} went live on ${result.release} after ${live.release} went live on ${from}; promote by hand if it should go` };
      }
      logger.info({ from, to, release: live.release }, 'auto-promotion candidate');
      return { release: live.release, why: `${live.release} has been live on ${from} for ${formatDuration(baked)} (promotion.bake ${formatDuration(bakeMs)})` };
    },

    async promotionSource({ from, release, bakeMs, sha256 }: { from: string; release: string; bakeMs: number; sha256?: string }): Promise<PromotionSource> {
      const { client } = Context.current();
      const workflowId = deploymentWorkflowId(from);
      // Newest first: every newer run that made another release live moves "replaced" earlier, to the first one after ours.
      let replacedAt: Date | null = null;
      let found: { runId: string; closeTime: Date; result: RecordedResult } | undefined;
      let digest: { sha256: string; runId: string } | undefined;
      for await (const run of liveRuns(client, from)) {
        if (!found && run.result.release !== release) replacedAt = run.closeTime;
        else if (run.result.release === release) {
          found ??= run;
          // A rollback to it downloaded nothing: the digest is the deployment's that brought it.
          if (run.result.artifactSha256) {
            digest = { sha256: run.result.artifactSha256, runId: run.runId };
            break;
          }
        }
      }
      if (!found) throw refuse(`${release} has not gone live on ${from}: a promotion takes only what ran there (deploy it to ${from} first; gantry status ${from} shows what runs)`);
      if (!digest) throw refuse(`${release} went live on ${from} without a recorded artifact digest (run ${found.runId}); deploy it to ${from} with its sha256 first`);
      if (sha256 && sha256 !== digest.sha256) {
        throw refuse(`the artifact digest differs: ${release} ran on ${from} as sha256 ${digest.sha256} (run ${digest.runId}), this request names ${sha256}; a promotion deploys the same bytes`);
      }
      const liveSince = found.closeTime;
      const liveForMs = (replacedAt ?? new Date()).getTime() - liveSince.getTime();
      if (liveForMs < bakeMs) {
        const needed = formatDuration(bakeMs);
        throw refuse(
          replacedAt
            ? `${release} was live on ${from} for only ${formatDuration(liveForMs)} (from ${liveSince.toISOString()} until a newer release replaced it at ${replacedAt.toISOString()}), less than promotion.bake ${needed}; promote a release that baked there`
            : `${release} has been live on ${from} for ${formatDuration(liveForMs)} of promotion.bake ${needed}; promote it after ${new Date(liveSince.getTime() + bakeMs).toISOString()}`,
        );
      }
      logger.info({ from, release, runId: found.runId, liveForMs }, 'promotion source found');
      return {
        from,
        release,
        sha256: digest.sha256,
        commit: found.result.commit,
        workflowId,
        runId: found.runId,
        liveSince: liveSince.toISOString(),
        replacedAt: replacedAt?.toISOString() ?? null,
        liveForMs,
        bakeMs,
      };
    },
  };
}

export type PromotionActivities = ReturnType<typeof createPromotionActivities>;
