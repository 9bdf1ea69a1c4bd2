// `gantry status <env>`: the environment's latest deployment, from its `status` query.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { deploymentWorkflowId, statusQuery, type DeployStatus } from '../../workflows/api';
import { requireEnvironmentName } from '../environment-name';
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

export async function statusCommand(environment: string, options: { json?: boolean }): Promise<number> {
  requireEnvironmentName(environment);
  const { client, close } = await connectClient();
  try {
    const status = await latestStatus(client, environment);
    console.log(options.json ? JSON.stringify(status) : formatStatus(status));
    return ExitCode.ok;
  } finally {
    await close();
  }
}
