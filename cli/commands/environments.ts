// `gantry environments`: the definitions the orchestrator deploys by, as its worker reads them (a short
// workflow on the orchestrator's queue), each with its sha256 — the hash a deployment pins.
import { randomUUID } from 'node:crypto';
import { connectClient } from '../../client/connection';
import { listEnvironmentsWorkflowId, type EnvironmentListing } from '../../workflows/api';
import { ExitCode } from '../exit-codes';

export async function environmentsCommand(options: { taskQueue: string; json: boolean }): Promise<number> {
  const { client, close } = await connectClient();
  try {
    const listing = await client.workflow.execute<() => Promise<EnvironmentListing>>('listEnvironments', {
      workflowId: listEnvironmentsWorkflowId(randomUUID()),
      taskQueue: options.taskQueue,
      workflowExecutionTimeout: '1m',
    });
    if (options.json) {
      console.log(JSON.stringify(listing));
    } else {
      console.log(`${listing.directory}:`);
      for (const e of listing.environments) {
        console.log(e.error ? `  ${e.name.padEnd(20)} INVALID: ${e.error.replace(/\n/g, '\n      ')}` : `  ${e.name.padEnd(20)} ${e.nodes} nodes  sha256 ${e.sha256}`);
      }
      if (listing.environments.length === 0) console.log('  (no <name>.yaml definitions)');
    }
    return listing.environments.some((e) => e.error) ? ExitCode.failed : ExitCode.ok;
  } finally {
    await close();
  }
}
