// The deployment's input, checked once when the workflow starts. A request names an environment and a
// release; the environment's definition is read from the orchestrator's own directory through an
// activity, so it is pinned in this run's history (with its sha256) and no caller can change policy.
import { ActivityFailure, ApplicationFailure, patched, workflowInfo } from '@temporalio/workflow';
import { describeIssues } from '../../lib/config/environment-rules';
import { deployRequestSchema } from '../../lib/config/request-schema';
import { failureTypes } from '../../lib/core/failure-types';
import { SHAPE_V1, shapeProblem } from '../../lib/rollout/batches';
import { definitions, promotions } from '../common/proxies';
import { queueWorkflowId, type PromotionSource } from '../api';
import type { Environment } from '../../lib/config/environment-schema';
import type { WorkflowInput } from './state';

/** Marks runs that read their environment from the orchestrator (every run since); older histories carried it in the input. */
const TRUSTED_DEFINITIONS = 'environment-definitions-from-orchestrator';

/** Marks runs that must be children of their environment's queue (every run since the queue). */
const STARTED_BY_QUEUE = 'started-by-queue';

const invalid = (message: string) => ApplicationFailure.nonRetryable(message, failureTypes.invalidInput);

export async function trustedInput(raw: unknown): Promise<WorkflowInput> {
  const info = workflowInfo();
  // A continued run's input is this workflow's own (continue-as-new): no client can start a run that
  // continues another, and a retried attempt starts from the first request again.
  if (isRecord(raw) && raw.resume !== undefined && info.continuedFromExecutionRunId !== undefined && info.attempt === 1) return raw as unknown as WorkflowInput;
  if (!patched(TRUSTED_DEFINITIONS)) return legacyInput(raw as WorkflowInput);

  const parsed = deployRequestSchema.safeParse(raw);
  if (!parsed.success) throw invalid(`invalid request:\n${describeIssues(parsed.error)}`);
  const request = parsed.data;
  // The queue is the only way in: a run started around it would pass its lock, windows and order.
  if (patched(STARTED_BY_QUEUE) && info.parent?.workflowId !== queueWorkflowId(request.environment)) {
    throw invalid(
      `this deployment was started directly; deployments of ${request.environment} start through its queue ${queueWorkflowId(request.environment)} (gantry deploy, the webhook, or the queue's enqueue update), so its lock, windows and order hold`,
    );
  }
  const shape = request.shape ?? SHAPE_V1;
  const problem = shapeProblem(shape);
  if (problem) throw invalid(problem);
  if (request.repair && request.kind !== 'rollback') throw invalid('repair: only with kind "rollback" (gantry repair brings nodes back to a release they keep)');
  if (request.kind === 'rollback' && request.artifactSha256 !== undefined) throw invalid('artifactSha256: a rollback downloads nothing; leave it out');
  if (request.promote && request.kind === 'rollback') throw invalid('promote: a rollback returns to a release the nodes keep; promote deploys what went live upstream');
  if (request.kind !== 'rollback' && request.artifactSha256 === undefined && !request.promote) throw invalid('artifactSha256 is required: the sha256 of the artifact to deploy');

  // An unknown or invalid definition ends the run with the activity's own message and type.
  const { environment, sha256, plan } = await definitions.loadEnvironment({ name: request.environment }).catch((err: unknown) => {
    const inner = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
    throw inner ? ApplicationFailure.nonRetryable(inner.message, inner.type) : err;
  });
  // A promotion deploys the bytes that went live upstream, and only after they baked there.
  const promotion = request.promote ? await promotionOf(environment, request.release, request.artifactSha256) : undefined;
  const artifactSha256 = promotion?.sha256 ?? request.artifactSha256;
  const commit = request.commit ?? promotion?.commit ?? undefined;
  if (promotion && request.commit && promotion.commit && promotion.commit !== request.commit) {
    throw ApplicationFailure.nonRetryable(`commit: ${request.release} ran on ${promotion.from} as commit ${promotion.commit}, not ${request.commit}`, failureTypes.promotionRefused);
  }
  const template = environment.artifact.url;
  if (artifactSha256 !== undefined && !template) {
    throw ApplicationFailure.nonRetryable(`environment ${environment.name} defines no artifact.url; add one to its definition`, failureTypes.invalidEnvironment);
  }
  return {
    environment,
    definitionSha256: sha256,
    ...(plan ? { plan } : {}),
    release: request.release,
    requestedBy: request.requestedBy,
    shape: { ...shape },
    ...(request.kind ? { kind: request.kind } : {}),
    ...(request.repair ? { repair: true } : {}),
    ...(commit ? { commit } : {}),
    ...(artifactSha256 ? { artifact: { url: template!.replaceAll('{release}', request.release), sha256: artifactSha256 } } : {}),
    ...(promotion ? { promotion } : {}),
  };
}

async function promotionOf(environment: Environment, release: string, sha256: string | undefined): Promise<PromotionSource> {
  const stage = environment.promotion;
  if (!stage) throw invalid(`promote: ${environment.name}'s definition names no promotion.from; add promotion: { from: <the stage before it>, bake: <how long> } to promote into it`);
  return promotions.promotionSource({ from: stage.from, release, bakeMs: stage.bake, ...(sha256 ? { sha256 } : {}) }).catch((err: unknown) => {
    const inner = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
    throw inner ? ApplicationFailure.nonRetryable(inner.message, inner.type) : err;
  });
}

/** A history from before definitions lived with the orchestrator (replay only: every new run takes the patched path). */
function legacyInput(input: WorkflowInput): WorkflowInput {
  return { ...input, shape: { ...(input.shape ?? SHAPE_V1) }, definitionSha256: null };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
