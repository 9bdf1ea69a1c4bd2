// `gantry deploy <env> <tag> --sha256 …`: checks the options, puts the request on the environment's
// queue, optionally waits and reports. The request names the environment; its definition (and the
// queue's policy) lives with the orchestrator.
import type { Client } from '@temporalio/client';
import os from 'node:os';
import { z } from 'zod';
import { awaitOutcome, awaitStart, deploymentHandle, enqueue, printEvents, RequestRefused, startOrAttach, type DeploymentHandle, type DeployOutcome, type DeployRequest, type LiveStatus } from '../../client/deployments';
import { deploymentWorkflowId, queueWorkflowId, type EnqueueAnswer } from '../../workflows/api';
import { connectClient } from '../../client/connection';
import { isSha256 } from '../../lib/release/artifact';
import { requireEnvironmentName } from '../environment-name';
import { isValidReleaseId } from '../../lib/release/release-store';
import { CliExit, ExitCode } from '../exit-codes';
import { drawProgress } from '../progress-view';

export type { DeployRequest };

export const deployOptionsSchema = z.object({
  sha256: z.string().refine(isSha256, 'expected the artifact\'s sha256 as 64 lowercase hex digits (e.g. from `sha256sum app.tgz`)'),
  commit: z
    .string()
    .regex(/^[0-9a-f]{7,40}$/, 'expected the commit the tag must point at, 7 to 40 lowercase hex digits')
    .optional(),
  wait: z.boolean().default(false),
  json: z.boolean().default(false),
  requestedBy: z.string().min(1).default(() => os.userInfo().username),
  taskQueue: z.string().min(1),
});
export type DeployOptions = z.input<typeof deployOptionsSchema>;

/** Validates everything a deployment needs before anything is sent to Temporal. */
export function prepareDeployment(environment: string, tag: string, rawOptions: DeployOptions): DeployRequest {
  const parsed = deployOptionsSchema.safeParse(rawOptions);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CliExit(`--${String(issue.path[0])}: ${issue.message}`, ExitCode.rejected);
  }
  const options = parsed.data;
  requireEnvironmentName(environment);
  if (!isValidReleaseId(tag)) throw new CliExit(`<tag> "${tag}": use letters, digits, ".", "_" or "-" (e.g. v1.4.2)`, ExitCode.rejected);
  return {
    input: {
      environment,
      release: tag,
      artifactSha256: options.sha256,
      requestedBy: options.requestedBy,
      ...(options.commit ? { commit: options.commit } : {}),
    },
    taskQueue: options.taskQueue,
  };
}

/** `gantry deploy`'s request from an environment name and options, started (or attached to). */
export async function startDeployment(client: Client, environment: string, tag: string, options: DeployOptions): Promise<DeploymentHandle> {
  return startRequest(client, prepareDeployment(environment, tag, options));
}

const refusal = (err: unknown): never => {
  if (err instanceof RequestRefused) throw new CliExit(err.message, ExitCode.rejected);
  throw err;
};

/** Enqueues and returns the deployment once it runs (at once when the environment is idle); a refusal is exit 4. */
export async function startRequest(client: Client, request: DeployRequest): Promise<DeploymentHandle> {
  return startOrAttach(client, request).catch(refusal);
}

/** One line on stderr for a request that waits: its id, its place, and what holds it. */
export function describeQueued(answer: EnqueueAnswer): string {
  return `queued as ${answer.id}${answer.position > 0 ? `, position ${answer.position}` : ''}${answer.replaced.length ? ` (replacing ${answer.replaced.join(', ')})` : ''}${answer.hold ? `: ${answer.hold.what} — clears when ${answer.hold.clears}` : ''}`;
}

export function printOutcome(outcome: DeployOutcome, json: boolean, print: (text: string) => void): void {
  if (json) {
    print(JSON.stringify(outcome));
    return;
  }
  if (outcome.status === 'queued' && outcome.queue) {
    print(`${outcome.workflowId}: ${describeQueued(outcome.queue)}`);
    return;
  }
  print(`${outcome.workflowId} (run ${outcome.runId}): ${outcome.status}${outcome.error ? ` — ${outcome.error}` : ''}`);
  if (outcome.cause) print(`  cause: ${outcome.cause.node ?? ''} ${outcome.cause.step ?? ''} ${outcome.cause.error}`);
  for (const undo of outcome.undoFailures ?? []) print(`  rollback failed on ${undo.node}: ${undo.error}`);
  if (outcome.migration?.contractFailed) print(`  contract migration failed (the fleet stays live, nothing rolled back): ${outcome.migration.contractFailed}`);
  if (outcome.migration?.backup) print(`  backup ${outcome.migration.backup.file}${outcome.migration.backup.copy ? `, copy ${outcome.migration.backup.copy}` : ''}`);
  if (outcome.definitionSha256) print(`  definition sha256 ${outcome.definitionSha256}`);
  for (const node of outcome.nodes ?? []) print(`  ${node.id.padEnd(16)} release ${node.release ?? '(none)'}  lb ${node.lb}`);
}

export function exitCodeOf(outcome: DeployOutcome): number {
  if (outcome.status === 'aborted') return outcome.undoFailures?.length ? ExitCode.abortedIncomplete : ExitCode.aborted;
  // A rollback that went past unreachable nodes is not a clean success either.
  if (outcome.status === 'failed' || outcome.status === 'rolled-back' || (outcome.status === 'live' && outcome.nodes?.some((n) => n.error))) return ExitCode.failed;
  if (outcome.migration?.contractFailed) return ExitCode.contractFailed;
  return ExitCode.ok;
}

export async function deployCommand(environment: string, tag: string, options: DeployOptions): Promise<number> {
  const request = prepareDeployment(environment, tag, options);
  const { client, close } = await connectClient();
  try {
    return await reportDeployment(client, request, { wait: options.wait ?? false, json: options.json ?? false });
  } finally {
    await close();
  }
}

/** Enqueues; prints "started" or "queued", or waits (for its turn, then the outcome) and prints that; returns the exit code. */
export async function reportDeployment(client: Client, request: DeployRequest, options: { wait: boolean; json: boolean }): Promise<number> {
  const print = (text: string) => console.log(text);
  const { environment, release } = request.input;
  const answer = await enqueue(client, request).catch(refusal);
  if (!options.wait) {
    const where = answer.deployment ?? { workflowId: answer.status === 'queued' ? queueWorkflowId(environment) : deploymentWorkflowId(environment), runId: '' };
    printOutcome({ ...where, status: answer.deployment ? 'started' : 'queued', release, queue: answer }, options.json, print);
    return ExitCode.ok;
  }
  let handle: DeploymentHandle;
  if (answer.deployment) handle = deploymentHandle(client, answer.deployment);
  else {
    console.error(describeQueued(answer));
    handle = await awaitStart(client, environment, answer.id, (_a, note) => note && console.error(note)).catch(refusal);
  }
  if (!options.json) console.error(`started ${handle.workflowId} (run ${handle.firstExecutionRunId})`);
  const stderr = process.stderr;
  const follow = options.json ? undefined : stderr.isTTY ? (read: () => Promise<LiveStatus | undefined>, done: Promise<unknown>) => drawProgress(read, stderr, done) : printEvents((line) => console.error(line));
  const outcome = await awaitOutcome(handle, follow);
  printOutcome(outcome, options.json, print);
  return exitCodeOf(outcome);
}
