// Everything before the first batch: verify the release, preflight, stage it on every node, migrate,
// and wait for approval when the environment asks for it before rollout.
import { ApplicationFailure, patched, upsertMemo } from '@temporalio/workflow';
import { failureTypes } from '../../lib/core/failure-types';
import { acrossFleet } from '../fleet/node-group';
import { artifactCheck, verification } from '../common/proxies';
import { ciGate } from './ci-gate';
import { awaitApproval } from './approval';
import { blueGreenOf, blueGreenPreflight, poolEnvironment, rehearses, targetInput } from './blue-green';
import { backupAndExpand, compatibilityGate } from './migrations';
import { renderConfiguration } from './configure';
import type { Notices } from './notices';
import { preflight, requireKept, rollbackPreflight } from './preflight';
import type { DeploymentState, WorkflowInput } from './state';

/**
 * Marks runs in which a rollback needs only the fleet (every run since): no tag, CI or change list,
 * and a preflight that goes past unreachable agents and unhealthy nodes. Older histories did all of it.
 */
const ROLLBACK_SKIPS_VERIFICATION = 'rollback-skips-verification';

/** `narrowed` receives the input the rest of the deployment works from (for a rollback, the nodes it could reach) as soon as it is known. */
export async function prepare(request: WorkflowInput, state: DeploymentState, notices: Notices, narrowed: (input: WorkflowInput) => void): Promise<void> {
  notices.send('requested');
  state.enter('verify');
  const promoted = request.promotion;
  if (promoted) {
    state.record(`promoted from ${promoted.from}: ${promoted.release} live there since ${promoted.liveSince}${promoted.replacedAt ? ` until ${promoted.replacedAt}` : ''} (run ${promoted.runId}), artifact sha256 ${promoted.sha256}`);
  }
  // A rollback returns to a release every node keeps, and a node keeps only what a verified
  // deployment staged: the tag, the remote and CI (possibly the very thing that is down) are not asked again.
  // Decided once (patched) and carried in the input, so later steps and continued runs read the same answer.
  const rollback = request.kind === 'rollback' && patched(ROLLBACK_SKIPS_VERIFICATION);
  let input: WorkflowInput = rollback ? { ...request, rollbackNeedsOnlyFleet: true } : request;
  if (rollback) {
    state.record(`rollback to ${input.release}: a release staged by an earlier verified deployment; tag and CI checks skipped`);
  } else {
    const tag = await verification.verifyTag({
      source: request.environment.source,
      tag: input.release,
      ...(input.commit ? { commit: input.commit } : {}),
      ...(input.artifact ? { artifactSha256: input.artifact.sha256 } : {}),
    });
    state.tagVerified(tag.commit, `tag ${input.release} is commit ${tag.commit}${tag.signed ? `, ${tag.signature}` : ''}`);
    await ciGate(request.environment.ci, tag.commit, state);
  }
  if (input.artifact) {
    const { bytes } = await artifactCheck.verifyArtifact({ ...input.artifact, unreachableTimeoutMs: request.environment.artifact.unreachableTimeout });
    state.record(`artifact sha256 verified (${bytes} bytes)`);
  }

  state.enter('preflight');
  const blueGreen = blueGreenOf(request.environment) !== undefined;
  if (blueGreen && input.repair) {
    throw ApplicationFailure.nonRetryable(
      `gantry repair does not handle blue-green environments yet: use gantry switch-back ${request.environment.name} while the old pool is warm, or deploy a release`,
      failureTypes.invalidInput,
    );
  }
  // From here on a rollback works with the nodes it can reach.
  if (blueGreen) await blueGreenPreflight(input, state);
  else if (rollback) input = await rollbackPreflight(input, state);
  else await preflight(input, state);
  narrowed(input);
  // Blue-green stages only the pool the release goes to; the live pool is never touched before the switch.
  const target = blueGreen ? targetInput(input, state) : input;
  const env = target.environment;

  state.enter('stage');
  // The change list (git, on the orchestrator) is read while the nodes download; a rollback does not
  // depend on the remote.
  const changes = rollback ? Promise.resolve() : recordChanges(input, state);
  if (input.artifact) {
    await acrossFleet(env, { op: 'stage', release: input.release, artifact: input.artifact }, input.shape);
    state.record(`release ${input.release} staged on ${env.nodes.length} nodes`);
  } else {
    await requireKept(target, input.release);
    state.record(`release ${input.release} is still kept on every node; nothing to download`);
  }
  // A rollback returns to a release whose configuration was rendered when it was staged.
  if (!rollback) await renderConfiguration(input, target.environment, state);
  await changes;
  if (approvalWanted(input)) requireKnownAuthors(input, state);
  notices.send('started');

  // A repair puts nodes right; the schema is not its business.
  // A blue-green rehearsal migrates a copy first, then the live database (blue-green.ts).
  if (env.migrations && env.migrations.mode !== 'downtime' && !input.repair && !rehearses(input.environment)) {
    state.enter('migrate');
    // Blue-green: the runner is the first node of the pool the release goes to, and the old release the live pool runs must stay healthy.
    await backupAndExpand(target, state);
    await compatibilityGate(blueGreen ? poolEnvironment(input.environment, state.pools!.live) : env, state);
  }
  // Blue-green asks for approval before the switch, once the smoke tests passed.
  if (approvalWanted(input) && env.approval!.at === 'before-rollout' && !blueGreen) await awaitApproval(state, notices);
}

/** Deployments wait for approval when the definition asks; rollbacks only when it asks for rollback approval too. */
export function approvalWanted(input: WorkflowInput): boolean {
  const policy = input.environment.approval;
  if (!policy?.required) return false;
  return input.kind !== 'rollback' || policy.forRollback === true || input.rollbackNeedsOnlyFleet !== true;
}

/** approval.requireAuthors: every author of the changes must be someone who can approve; else fail before any node is drained. */
function requireKnownAuthors(input: WorkflowInput, state: DeploymentState): void {
  const mode = (input.environment.approval?.requireAuthors as string | undefined) ?? 'none';
  const changes = state.changes;
  if (mode === 'none' || !changes) return;
  if (changes.total > changes.commits.length && changes.from === null) {
    throw ApplicationFailure.nonRetryable(
      `approval.requireAuthors is ${mode} but the fleet runs no release this one can be compared with, so every one of the ${changes.total} commits would need its author: set requireAuthors: none for this first deployment, then back`,
      failureTypes.invalidInput,
    );
  }
  if (changes.total > changes.commits.length) {
    throw ApplicationFailure.nonRetryable(
      `approval.requireAuthors is ${mode} but ${changes.total} commits go out and only the newest ${changes.commits.length} can be listed: deploy a nearer release first, or set requireAuthors: none for this one`,
      failureTypes.invalidInput,
    );
  }
  const { authors, unmapped } = state.changeAuthors();
  // all: every author must be able to approve; any: one who can is enough.
  if (unmapped.length > 0 && (mode === 'all' || authors.length === 0)) {
    throw ApplicationFailure.nonRetryable(
      `approval.requireAuthors is ${mode} but no principal is known for author ${unmapped.join(', ')} of the changes since ${changes.from ?? 'the beginning'}: add ${unmapped.map((e) => `"${e}": <name>`).join(', ')} to approval.authors`,
      failureTypes.invalidInput,
    );
  }
  state.record(`authors of the changes, who must approve (${mode}): ${authors.map((a) => `${a.principal} (${a.commits} commit${a.commits > 1 ? 's' : ''})`).join(', ')}${unmapped.length ? `; unmapped, cannot approve: ${unmapped.join(', ')}` : ''}`);
}

/** The commits between the release the fleet runs now and the new tag: status, memo and notices. */
async function recordChanges(input: WorkflowInput, state: DeploymentState): Promise<void> {
  const running = state.nodes.map((n) => n.previousRelease).filter((r): r is string => r !== null);
  const from = mostCommon(running);
  if (from === input.release) return;
  const changes = await verification.listChanges({ remote: input.environment.source.remote, from, to: input.release, unreachableTimeoutMs: input.environment.source.unreachableTimeout });
  upsertMemo({ changes });
  state.changesListed(changes);
}

function mostCommon(values: string[]): string | null {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}
