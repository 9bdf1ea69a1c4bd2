// `gantry rollback <env> [--to <release>]`: a deployment of a release every node still keeps (by
// default the one the newest live deployment replaced), so nothing is downloaded and, the release
// having been verified when it was staged, neither the tag nor CI is asked again.
import type { Client } from '@temporalio/client';
import os from 'node:os';
import { isValidReleaseId } from '../../lib/release/release-store';
import { connectClient } from '../../client/connection';
import { recordedResult } from '../../client/deployments';
import { deploymentWorkflowId } from '../../workflows/api';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';
import { reportDeployment, type DeployRequest } from './deploy';

export interface RollbackOptions {
  to?: string;
  wait?: boolean;
  json?: boolean;
  requestedBy?: string;
  taskQueue: string;
}

export async function prepareRollback(client: Client, environment: string, options: RollbackOptions): Promise<DeployRequest> {
  requireEnvironmentName(environment);
  const release = options.to ?? (await releaseBeforeLastLive(client, environment));
  if (!isValidReleaseId(release)) throw new CliExit(`--to "${release}": use letters, digits, ".", "_" or "-"`, ExitCode.rejected);
  return {
    input: { environment, release, kind: 'rollback', requestedBy: options.requestedBy ?? os.userInfo().username },
    taskQueue: options.taskQueue,
  };
}

/**
 * What the newest deployment that went live replaced. Failed, rolled-back, aborted or refused runs
 * left the fleet where it was, so they never change the answer; it comes from recorded results,
 * so no orchestrator worker needs to be up.
 */
async function releaseBeforeLastLive(client: Client, environment: string): Promise<string> {
  const workflowId = deploymentWorkflowId(environment);
  // The latest run first, from the server itself (visibility may lag a run that just ended).
  const latest = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch(() => undefined);
  let liveRunId = latest?.status.name === 'COMPLETED' ? latest.runId : undefined;
  if (!liveRunId) {
    const live: { runId: string; startTime: Date }[] = [];
    for await (const run of client.workflow.list({ query: `WorkflowId = '${workflowId}' AND ExecutionStatus = 'Completed'` })) live.push({ runId: run.runId, startTime: run.startTime });
    liveRunId = live.sort((a, b) => b.startTime.getTime() - a.startTime.getTime())[0]?.runId;
  }
  if (!liveRunId) throw new CliExit(`no deployment of ${environment} has gone live yet: there is nothing to roll back to; name a release with --to`, ExitCode.rejected);
  const result = await recordedResult(client, workflowId, liveRunId);
  if (!result) throw new CliExit(`run ${liveRunId} of ${workflowId} recorded no result; name a release with --to`, ExitCode.rejected);
  // Nodes the run did not change (already on its release) or could not reach say nothing about what it replaced.
  // Blue-green: what the pool that served before the switch ran.
  const before = result.pools ? result.pools.target : undefined;
  const previous = [...new Set(result.nodes.filter((n) => !n.error && n.previousRelease !== result.release && (before === undefined || n.pool !== before)).map((n) => n.previousRelease))];
  if (previous.length !== 1 || previous[0] === null || previous[0] === undefined) {
    throw new CliExit(
      `cannot tell which release to return to (before ${result.release} went live in run ${liveRunId} the nodes had: ${previous.map((p) => p ?? '(none)').join(', ') || 'nothing else'}); name one with --to`,
      ExitCode.rejected,
    );
  }
  return previous[0];
}

export async function rollbackCommand(environment: string, options: RollbackOptions): Promise<number> {
  const { client, close } = await connectClient();
  try {
    const request = await prepareRollback(client, environment, options);
    return await reportDeployment(client, request, { wait: options.wait ?? false, json: options.json ?? false });
  } finally {
    await close();
  }
}
