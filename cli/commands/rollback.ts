// `gantry rollback <env> [--to <release>]`: a normal deployment of a release every node still
// keeps (by default the one the latest deployment replaced), so nothing is downloaded.
import type { Client } from '@temporalio/client';
import os from 'node:os';
import { isValidReleaseId } from '../../lib/release/release-store';
import { connectClient } from '../../client/connection';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';
import { reportDeployment, startRequest, type DeployRequest } from './deploy';
import { latestStatus } from './status';

export interface RollbackOptions {
  to?: string;
  wait?: boolean;
  json?: boolean;
  requestedBy?: string;
  taskQueue: string;
}

export async function prepareRollback(client: Client, environment: string, options: RollbackOptions): Promise<DeployRequest> {
  requireEnvironmentName(environment);
  let release = options.to;
  if (release === undefined) {
    const last = await latestStatus(client, environment);
    const previous = [...new Set(last.nodes.map((n) => n.previousRelease))];
    if (previous.length !== 1 || previous[0] === null || previous[0] === undefined) {
      throw new CliExit(
        `cannot tell which release to return to (before ${last.release} the nodes had: ${previous.map((p) => p ?? '(none)').join(', ')}); name one with --to`,
        ExitCode.rejected,
      );
    }
    release = previous[0];
  }
  if (!isValidReleaseId(release)) throw new CliExit(`--to "${release}": use letters, digits, ".", "_" or "-"`, ExitCode.rejected);
  return {
    input: { environment, release, kind: 'rollback', requestedBy: options.requestedBy ?? os.userInfo().username },
    taskQueue: options.taskQueue,
  };
}

export async function rollbackCommand(environment: string, options: RollbackOptions): Promise<number> {
  const { client, close } = await connectClient();
  try {
    const request = await prepareRollback(client, environment, options);
    return await reportDeployment(await startRequest(client, request), request.input.release, { wait: options.wait ?? false, json: options.json ?? false });
  } finally {
    await close();
  }
}
