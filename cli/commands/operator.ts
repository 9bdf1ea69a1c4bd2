// `gantry approve|reject|abort|pause|resume|accept-unchecked <env> --as <name>`: through updates, so a refusal (not an
// approver, self-approval, nothing to approve, a signature that does not verify) comes back at once
// with its reason. With a key (--key, or ssh-agent) the action is signed over the run the operator saw.
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { buildStatement, describeStatement, signStatement, type StatementSubject } from '../../client/operator-statement';
import { parseDuration } from '../../lib/config/duration';
import type { OperatorActionName } from '../../lib/identity/statement';
import {
  abortUpdate,
  acceptUncheckedUpdate,
  approveUpdate,
  deploymentWorkflowId,
  pauseUpdate,
  rejectUpdate,
  resumeUpdate,
  statusQuery,
  type DeployStatus,
  type SignedStatement,
} from '../../workflows/api';
import { abortPayload, approvePayload, operatorPayload, rejectPayload } from '../../workflows/deployment/operator-payloads';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';
import { formatStatus } from '../format';

export type OperatorAction = OperatorActionName;
export interface OperatorOptions {
  as: string;
  comment?: string;
  reason?: string;
  json?: boolean;
  /** A private key (or a public key whose private half ssh-agent holds). */
  key?: string;
  /** false (--no-sign): send unsigned even when a key is at hand. */
  sign?: boolean;
  /** The run the operator looked at: refused when the running deployment is another. */
  run?: string;
  validFor?: string;
}

/** Sends `action`; `signature` proves the sender (see signedAction). */
export async function sendOperatorUpdate(
  client: Client,
  environment: string,
  action: OperatorAction,
  options: OperatorOptions,
  signature?: SignedStatement,
): Promise<DeployStatus> {
  const handle = client.workflow.getHandle(deploymentWorkflowId(environment));
  const payloadError = (issues: { message: string }[]) => new CliExit(`${action}: ${issues.map((i) => i.message).join('; ')}`, ExitCode.rejected);
  const signed = signature ? { signature } : {};
  try {
    switch (action) {
      case 'approve': {
        const payload = approvePayload.safeParse({ by: options.as, ...(options.comment ? { comment: options.comment } : {}), ...signed });
        if (!payload.success) throw payloadError(payload.error.issues);
        return await handle.executeUpdate(approveUpdate, { args: [payload.data] });
      }
      case 'reject':
      case 'abort':
      case 'accept-unchecked': {
        const schema = action === 'reject' ? rejectPayload : abortPayload;
        const payload = schema.safeParse({ by: options.as, reason: options.reason ?? '', ...signed });
        if (!payload.success) throw payloadError(payload.error.issues);
        const update = action === 'abort' ? abortUpdate : action === 'reject' ? rejectUpdate : acceptUncheckedUpdate;
        return await handle.executeUpdate(update, { args: [payload.data] });
      }
      case 'pause':
      case 'resume': {
        const payload = operatorPayload.safeParse({ by: options.as, ...signed });
        if (!payload.success) throw payloadError(payload.error.issues);
        return await handle.executeUpdate(action === 'pause' ? pauseUpdate : resumeUpdate, { args: [payload.data] });
      }
      case 'switch-back':
        throw new CliExit('switch-back is its own command: gantry switch-back <env> --as <name>', ExitCode.rejected);
    }
  } catch (err) {
    throw explain(err, action, environment);
  }
}

/** The running deployment's status, refused when it is not the run the operator named. */
async function runningStatus(client: Client, environment: string, action: string, run: string | undefined): Promise<DeployStatus> {
  const status = await client.workflow
    .getHandle(deploymentWorkflowId(environment))
    .query(statusQuery)
    .catch((err: unknown) => {
      throw explain(err, action, environment);
    });
  if (run !== undefined && status.runId !== run) {
    throw new CliExit(`${action} refused: the deployment of ${environment} is now run ${status.runId} (${status.release}, ${status.phase}), not run ${run} you named; look at gantry status ${environment} again`, ExitCode.rejected);
  }
  return status;
}

/** Signs when a key is at hand: --key, else ssh-agent's first key; none (or --no-sign) sends unsigned. */
export async function maybeSign(
  status: StatementSubject & { signing?: { approvals?: boolean; control: boolean } },
  action: OperatorAction,
  options: Pick<OperatorOptions, 'as' | 'key' | 'sign' | 'validFor'>,
): Promise<SignedStatement | undefined> {
  const agentSocket = process.env.SSH_AUTH_SOCK || undefined;
  // Without --key, ssh-agent's key signs only where this action must be signed (an unlisted agent key would otherwise spoil an approval that counts unsigned).
  const required = action === 'approve' || action === 'reject' ? status.signing?.approvals : status.signing?.control;
  if (options.sign === false || (!options.key && (!agentSocket || !required))) return undefined;
  const validForMs = parseDuration(options.validFor ?? '10m');
  if (validForMs === undefined || validForMs <= 0) throw new CliExit(`--valid-for: expected a duration such as "10m", got ${options.validFor}`, ExitCode.rejected);
  let statement;
  try {
    statement = buildStatement({ status, action, by: options.as.trim(), validForMs });
  } catch (err) {
    throw new CliExit(`${action}: ${(err as Error).message}`, ExitCode.rejected);
  }
  console.error(describeStatement(statement, status.plan!.summary));
  try {
    const { via, ...signed } = await signStatement(statement, { ...(options.key ? { keyFile: options.key } : {}), ...(agentSocket ? { agentSocket } : {}) });
    console.error(`  signed with ${via}`);
    return signed;
  } catch (err) {
    // An agent without keys and no --key: unsigned, and the orchestrator says whether that counts.
    if (!options.key && /no signing key/.test((err as Error).message)) return undefined;
    throw new CliExit(`${action}: ${(err as Error).message}`, ExitCode.rejected);
  }
}

function explain(err: unknown, action: string, environment: string): unknown {
  if (err instanceof CliExit) return err;
  if (err instanceof WorkflowUpdateFailedError) return new CliExit(`${action} rejected: ${err.cause?.message ?? err.message}`, ExitCode.rejected);
  if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test((err as Error).message)) {
    return new CliExit(`${action} rejected: no deployment of ${environment} is running`, ExitCode.rejected);
  }
  return err;
}

export async function operatorCommand(action: OperatorAction, environment: string, options: OperatorOptions): Promise<number> {
  requireEnvironmentName(environment);
  const { client, close } = await connectClient();
  try {
    const current = await runningStatus(client, environment, action, options.run);
    const signature = await maybeSign(current, action, options);
    const status = await sendOperatorUpdate(client, environment, action, options, signature);
    console.log(options.json ? JSON.stringify(status) : formatStatus(status));
    return ExitCode.ok;
  } finally {
    await close();
  }
}
