// `gantry status <env-file>`: the environment's latest deployment, from its `status` query.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { loadEnvironmentFile } from '../../lib/config/environment-file';
import { connectClient } from '../../client/connection';
import { deploymentWorkflowId, statusQuery, type DeployStatus } from '../../workflows/api';
import { CliExit, ExitCode } from '../exit-codes';
import { formatStatus } from '../format';

export async function latestStatus(client: Client, environment: string): Promise<DeployStatus> {
  const workflowId = deploymentWorkflowId(environment);
  return client.workflow
    .getHandle(workflowId)
    .query(statusQuery)
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) throw new CliExit(`no deployment of ${environment} yet (${workflowId})`, ExitCode.rejected);
      throw err;
    });
}

export async function statusCommand(envFile: string, options: { json?: boolean }): Promise<number> {
  const environment = await loadEnvironmentFile(envFile);
  const { client, close } = await connectClient();
  try {
    const status = await latestStatus(client, environment.name);
    console.log(options.json ? JSON.stringify(status) : formatStatus(status));
    return ExitCode.ok;
  } finally {
    await close();
  }
}
