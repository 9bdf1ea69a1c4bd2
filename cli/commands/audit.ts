// `gantry audit <env> [--run ID] --out DIR`: the signed statements of a deployment run, re-verifiable offline (client/audit.ts).
import { WorkflowNotFoundError } from '@temporalio/client';
import { acceptedOnly, verifiedStatements, writeAuditBundle } from '../../client/audit';
import { connectClient } from '../../client/connection';
import { deploymentWorkflowId } from '../../workflows/api';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';

export async function auditCommand(environment: string, options: { run?: string; out: string; json?: boolean }): Promise<number> {
  requireEnvironmentName(environment);
  const { client, close } = await connectClient();
  try {
    const workflowId = deploymentWorkflowId(environment);
    const handle = client.workflow.getHandle(workflowId, options.run);
    const [description, history] = await Promise.all([handle.describe(), handle.fetchHistory()]).catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) throw new CliExit(`no deployment ${workflowId}${options.run ? ` run ${options.run}` : ''}`, ExitCode.rejected);
      throw err;
    });
    const accepted = (description.memo?.signedStatements as string[] | undefined) ?? [];
    const bundle = await writeAuditBundle(options.out, workflowId, description.runId, acceptedOnly(await verifiedStatements(history), accepted));
    if (options.json) console.log(JSON.stringify(bundle));
    else {
      console.log(`${bundle.entries.length} signed statement(s) of ${workflowId} run ${description.runId} written to ${options.out}`);
      for (const e of bundle.entries) console.log(`  ${e.action.padEnd(8)} ${e.principal.padEnd(12)} ${e.fingerprint}  ${e.verifiedAt}`);
      console.log(`re-verify anywhere with OpenSSH: sh ${options.out}/verify.sh`);
    }
    return ExitCode.ok;
  } finally {
    await close();
  }
}
