// `gantry status <env-file>`: the environment's latest deployment, from its `status` query.
import { WorkflowNotFoundError } from '@temporalio/client';
import { loadEnvironmentFile } from '../../lib/environment-file';
import { connectClient } from '../../workers/connection';
import { deploymentWorkflowId, statusQuery } from '../../workflows/api';
import { CliExit, ExitCode } from '../exit-codes';

export async function statusCommand(envFile: string, options: { json?: boolean }): Promise<number> {
  const environment = await loadEnvironmentFile(envFile);
  const { client, close } = await connectClient();
  try {
    const workflowId = deploymentWorkflowId(environment.name);
    const status = await client.workflow
      .getHandle(workflowId)
      .query(statusQuery)
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) throw new CliExit(`no deployment of ${environment.name} yet (${workflowId})`, ExitCode.rejected);
        throw err;
      });
    if (options.json) {
      console.log(JSON.stringify(status));
      return ExitCode.ok;
    }
    console.log(`${status.workflowId}: ${status.release} (${status.commit ?? 'unverified'}) requested by ${status.requestedBy} — ${status.phase}`);
    for (const n of status.nodes) console.log(`  ${n.id.padEnd(16)} ${n.state.padEnd(10)} release ${n.release ?? '(none)'}  lb ${n.lb}${n.error ? `  ${n.error}` : ''}`);
    for (const e of status.events) console.log(`  ${e.time}  ${e.what}`);
    return ExitCode.ok;
  } finally {
    await close();
  }
}
