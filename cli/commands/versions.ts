// `gantry versions`: the orchestrator's builds on the Temporal server — which is current (new
// deployments start there) and which still drain the deployments pinned to them. A build may be
// stopped once it is drained.
import { connectClient } from '../../client/connection';
import { listVersions } from '../../client/worker-deployment';
import { ExitCode } from '../exit-codes';

export async function versionsCommand(options: { deploymentName: string; json: boolean }): Promise<number> {
  const { client, close } = await connectClient();
  try {
    const { current, versions } = await listVersions(client, options.deploymentName);
    if (options.json) {
      console.log(JSON.stringify({ deploymentName: options.deploymentName, current, versions }));
    } else if (versions.length === 0) {
      console.log(`${options.deploymentName}: no build has polled yet; start \`gantry worker\``);
    } else {
      console.log(`${options.deploymentName}: current ${current ?? '(none)'}`);
      for (const v of versions) console.log(`  ${v.buildId.padEnd(28)} ${v.status}${v.drainage ? ` (${v.drainage})` : ''}`);
    }
    return ExitCode.ok;
  } finally {
    await close();
  }
}
