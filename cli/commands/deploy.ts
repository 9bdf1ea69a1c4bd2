// `gantry deploy <env-file> <tag>`: starts the deployment workflow, optionally waits and reports.
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import os from 'node:os';
import { z } from 'zod';
import { isSha256 } from '../../lib/artifact';
import { loadEnvironmentFile } from '../../lib/environment-file';
import { isValidReleaseId } from '../../lib/release-store';
import { sleep } from '../../lib/wait';
import { connectClient } from '../../workers/connection';
import {
  deploymentWorkflowId,
  searchAttributes,
  statusQuery,
  type DeployInput,
  type DeployOutcomeStatus,
  type DeployResult,
  type FailureCause,
  type UndoFailure,
} from '../../workflows/api';
import type { deployment } from '../../workflows/deployment';
import { CliExit, ExitCode } from '../exit-codes';
import { drawProgress } from '../progress-view';

export const deployOptionsSchema = z.object({
  artifact: z.string().min(1).optional(),
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

export interface DeployOutcome {
  workflowId: string;
  runId: string;
  status: 'started' | DeployOutcomeStatus;
  release: string;
  commit?: string | null;
  nodes?: { id: string; release: string | null; lb: string }[];
  error?: string;
  cause?: FailureCause;
  undoFailures?: UndoFailure[];
}

export interface DeployRequest {
  input: DeployInput;
  taskQueue: string;
}

/** Validates everything a deployment needs before anything is sent to Temporal. */
export async function prepareDeployment(envFile: string, tag: string, rawOptions: DeployOptions): Promise<DeployRequest> {
  const parsed = deployOptionsSchema.safeParse(rawOptions);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CliExit(`--${String(issue.path[0])}: ${issue.message}`, ExitCode.rejected);
  }
  const options = parsed.data;
  if (!isValidReleaseId(tag)) throw new CliExit(`<tag> "${tag}": use letters, digits, ".", "_" or "-" (e.g. v1.4.2)`, ExitCode.rejected);
  const environment = await loadEnvironmentFile(envFile);
  const template = options.artifact ?? environment.artifact.url;
  if (!template) throw new CliExit(`--artifact is required: environment ${environment.name} has no artifact.url template`, ExitCode.rejected);
  const url = template.replaceAll('{release}', tag);
  return {
    input: {
      environment,
      release: tag,
      artifact: { url, sha256: options.sha256 },
      requestedBy: options.requestedBy,
      ...(options.commit ? { commit: options.commit } : {}),
    },
    taskQueue: options.taskQueue,
  };
}

export async function startDeployment(client: Client, envFile: string, tag: string, options: DeployOptions): Promise<WorkflowHandleWithFirstExecutionRunId<typeof deployment>> {
  return startPrepared(client, await prepareDeployment(envFile, tag, options));
}

export async function startPrepared(client: Client, { input, taskQueue }: DeployRequest): Promise<WorkflowHandleWithFirstExecutionRunId<typeof deployment>> {
  const { environment, requestedBy, release: tag } = input;
  const workflowId = deploymentWorkflowId(environment.name);
  try {
    return await client.workflow.start<typeof deployment>('deployment', {
      workflowId,
      taskQueue,
      args: [input],
      workflowIdConflictPolicy: 'FAIL',
      staticSummary: `${input.kind === 'rollback' ? 'Roll back' : 'Deploy'} ${tag} to ${environment.name}, requested by ${requestedBy}`,
      staticDetails: [
        `**${tag}** → **${environment.name}** (${environment.nodes.length} nodes: ${environment.nodes.map((n) => n.id).join(', ')})`,
        `requested by ${requestedBy}${input.commit ? `, commit ${input.commit}` : ''}`,
        input.artifact ? `artifact ${input.artifact.url} (sha256 ${input.artifact.sha256.slice(0, 12)}…)` : 'no download: every node keeps this release',
      ].join('\n\n'),
      typedSearchAttributes: [
        { key: searchAttributes.environment, value: environment.name },
        { key: searchAttributes.release, value: tag },
        { key: searchAttributes.phase, value: 'verify' },
        { key: searchAttributes.requestedBy, value: requestedBy },
      ],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      const running = await client.workflow.getHandle(workflowId).describe().catch(() => undefined);
      const release = running?.typedSearchAttributes.get(searchAttributes.release);
      // A retried request (CI re-running its step) attaches to the deployment it already started.
      if (running && release === tag && running.typedSearchAttributes.get(searchAttributes.requestedBy) === requestedBy) {
        const handle = client.workflow.getHandle<typeof deployment>(workflowId, undefined, { firstExecutionRunId: running.runId });
        return Object.assign(handle, { firstExecutionRunId: running.runId });
      }
      throw new CliExit(
        `another deployment is running on ${environment.name}: ${workflowId}${running ? ` (run ${running.runId}` : ''}${release ? `, release ${release}` : ''}${running ? ')' : ''}; wait for it to finish first`,
        ExitCode.rejected,
      );
    }
    throw err;
  }
}

/**
 * Waits for the result, optionally showing progress: a callback gets the event log line by line; a
 * terminal stream gets the live per-node view.
 */
export async function awaitOutcome(
  handle: WorkflowHandle<typeof deployment>,
  progress?: ((line: string) => void) | NodeJS.WriteStream,
  runId = (handle as Partial<WorkflowHandleWithFirstExecutionRunId>).firstExecutionRunId ?? '',
): Promise<DeployOutcome> {
  const base = { workflowId: handle.workflowId, runId };
  const result = handle.result().then(
    (r) => ({ ok: true as const, r }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  const following =
    typeof progress === 'function'
      ? followEvents(handle, progress, result)
      : progress
        ? drawProgress(() => handle.query(statusQuery).catch(() => undefined), progress, result)
        : Promise.resolve();
  const settled = await result;
  await following;
  if (settled.ok) return { ...base, ...summarize(settled.r) };
  const err = settled.err;
  if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure && err.cause.details?.[0]) {
    return { ...base, ...summarize(err.cause.details[0] as DeployResult) };
  }
  if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) {
    // Cancelled through Temporal: the workflow rolled back first; its status query says where nodes stand.
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (status) {
      return {
        ...base,
        status: 'aborted',
        release: status.release,
        commit: status.commit,
        nodes: status.nodes.map(({ id, release, lb }) => ({ id, release, lb })),
        error: 'the workflow was cancelled',
      };
    }
  }
  return { ...base, status: 'failed', release: '', error: err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err) };
}

function summarize(r: DeployResult): Omit<DeployOutcome, 'workflowId' | 'runId'> {
  return {
    status: r.status,
    release: r.release,
    commit: r.commit,
    nodes: r.nodes.map(({ id, release, lb }) => ({ id, release, lb })),
    ...(r.error ? { error: r.error } : {}),
    ...(r.cause ? { cause: r.cause } : {}),
    ...(r.undoFailures?.length ? { undoFailures: r.undoFailures } : {}),
  };
}

async function followEvents(handle: WorkflowHandle<typeof deployment>, print: (line: string) => void, done: Promise<unknown>): Promise<void> {
  let seen = 0;
  let finished = false;
  void done.then(() => (finished = true));
  for (;;) {
    // Read `finished` before querying so the last poll sees the final events.
    const last = finished;
    const status = await handle.query(statusQuery).catch(() => undefined);
    for (const event of status?.events.slice(seen) ?? []) print(`${event.time.slice(11, 23)}  ${event.what}`);
    seen = status?.events.length ?? seen;
    if (last) return;
    await Promise.race([sleep(300), done]);
  }
}

export function printOutcome(outcome: DeployOutcome, json: boolean, print: (text: string) => void): void {
  if (json) {
    print(JSON.stringify(outcome));
    return;
  }
  print(`${outcome.workflowId} (run ${outcome.runId}): ${outcome.status}${outcome.error ? ` — ${outcome.error}` : ''}`);
  if (outcome.cause) print(`  cause: ${outcome.cause.node ?? ''} ${outcome.cause.step ?? ''} ${outcome.cause.error}`);
  for (const undo of outcome.undoFailures ?? []) print(`  rollback failed on ${undo.node}: ${undo.error}`);
  for (const node of outcome.nodes ?? []) print(`  ${node.id.padEnd(16)} release ${node.release ?? '(none)'}  lb ${node.lb}`);
}

export function exitCodeOf(outcome: DeployOutcome): number {
  if (outcome.status === 'aborted') return ExitCode.aborted;
  if (outcome.status === 'failed' || outcome.status === 'rolled-back') return ExitCode.failed;
  return ExitCode.ok;
}

export async function deployCommand(envFile: string, tag: string, options: DeployOptions): Promise<number> {
  const request = await prepareDeployment(envFile, tag, options);
  const { client, close } = await connectClient();
  try {
    return await reportDeployment(await startPrepared(client, request), request.input.release, { wait: options.wait ?? false, json: options.json ?? false });
  } finally {
    await close();
  }
}

/** Prints "started", or waits and prints the outcome; returns the exit code. */
export async function reportDeployment(
  handle: WorkflowHandleWithFirstExecutionRunId<typeof deployment>,
  release: string,
  options: { wait: boolean; json: boolean }): Promise<number> {
  const print = (text: string) => console.log(text);
  if (!options.wait) {
    printOutcome({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId, status: 'started', release }, options.json, print);
    return ExitCode.ok;
  }
  if (!options.json) console.error(`started ${handle.workflowId} (run ${handle.firstExecutionRunId})`);
  const progress = options.json ? undefined : process.stderr.isTTY ? process.stderr : (line: string) => console.error(line);
  const outcome = await awaitOutcome(handle, progress);
  printOutcome(outcome, options.json, print);
  return exitCodeOf(outcome);
}
