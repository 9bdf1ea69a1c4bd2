// `gantry promote <release> --to <env>`: deploy to <env> the artifact that went live in the stage
// before it (its definition's promotion.from), once it has been live there for promotion.bake. The
// orchestrator finds the upstream run and its digest; the caller names only the release and the stage.
import os from 'node:os';
import { connectClient } from '../../client/connection';
import { isValidReleaseId } from '../../lib/release/release-store';
import { isSha256 } from '../../lib/config/environment-schema';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';
import { reportDeployment, type DeployRequest } from './deploy';

export interface PromoteOptions {
  to: string;
  sha256?: string;
  wait?: boolean;
  json?: boolean;
  requestedBy?: string;
  taskQueue: string;
}

export function preparePromotion(release: string, options: PromoteOptions): DeployRequest {
  requireEnvironmentName(options.to);
  if (!isValidReleaseId(release)) throw new CliExit(`release "${release}": use letters, digits, ".", "_" or "-" (e.g. v1.4.2)`, ExitCode.rejected);
  if (options.sha256 !== undefined && !isSha256(options.sha256)) throw new CliExit('--sha256: expected 64 lowercase hex digits (the digest you expect upstream ran)', ExitCode.rejected);
  return {
    input: { environment: options.to, release, promote: true, requestedBy: options.requestedBy ?? os.userInfo().username, ...(options.sha256 ? { artifactSha256: options.sha256 } : {}) },
    taskQueue: options.taskQueue,
  };
}

export async function promoteCommand(release: string, options: PromoteOptions): Promise<number> {
  const request = preparePromotion(release, options);
  const { client, close } = await connectClient();
  try {
    return await reportDeployment(client, request, { wait: options.wait ?? false, json: options.json ?? false });
  } finally {
    await close();
  }
}
