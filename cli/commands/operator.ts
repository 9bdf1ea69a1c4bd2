// `gantry approve|abort|pause|resume <env> --as <name>`: through updates, so a rejection (not an
// approver, self-approval, nothing to approve, already finished) comes back at once with its reason.
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import {
  abortUpdate,
  approveUpdate,
  deploymentWorkflowId,
  pauseUpdate,
  resumeUpdate,
  type DeployStatus,
} from '../../workflows/api';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';
import { formatStatus } from '../format';
import { abortPayload, approvePayload, operatorPayload } from '../../workflows/deployment/operator-payloads';

export type OperatorAction = 'approve' | 'abort' | 'pause' | 'resume';
export interface OperatorOptions {
  as: string;
  comment?: string;
  reason?: string;
  json?: boolean;
}

export async function sendOperatorUpdate(client: Client, environment: string, action: OperatorAction, options: OperatorOptions): Promise<DeployStatus> {
  const handle = client.workflow.getHandle(deploymentWorkflowId(environment));
  const payloadError = (issues: { message: string }[]) => new CliExit(`${action}: ${issues.map((i) => i.message).join('; ')}`, ExitCode.rejected);
  try {
    switch (action) {
      case 'approve': {
        const payload = approvePayload.safeParse({ by: options.as, ...(options.comment ? { comment: options.comment } : {}) });
        if (!payload.success) throw payloadError(payload.error.issues);
        return await handle.executeUpdate(approveUpdate, { args: [payload.data] });
      }
      case 'abort': {
        const payload = abortPayload.safeParse({ by: options.as, reason: options.reason ?? '' });
        if (!payload.success) throw payloadError(payload.error.issues);
        return await handle.executeUpdate(abortUpdate, { args: [payload.data] });
      }
      case 'pause':
      case 'resume': {
        const payload = operatorPayload.safeParse({ by: options.as });
        if (!payload.success) throw payloadError(payload.error.issues);
        return await handle.executeUpdate(action === 'pause' ? pauseUpdate : resumeUpdate, { args: [payload.data] });
      }
    }
  } catch (err) {
    if (err instanceof CliExit) throw err;
    if (err instanceof WorkflowUpdateFailedError) throw new CliExit(`${action} rejected: ${err.cause?.message ?? err.message}`, ExitCode.rejected);
    if (err instanceof WorkflowNotFoundError || /already completed|not found/i.test((err as Error).message)) {
      throw new CliExit(`${action} rejected: no deployment of ${environment} is running`, ExitCode.rejected);
    }
    throw err;
  }
}

export async function operatorCommand(action: OperatorAction, environment: string, options: OperatorOptions): Promise<number> {
  requireEnvironmentName(environment);
  const { client, close } = await connectClient();
  try {
    const status = await sendOperatorUpdate(client, environment, action, options);
    console.log(options.json ? JSON.stringify(status) : formatStatus(status));
    return ExitCode.ok;
  } finally {
    await close();
  }
}
