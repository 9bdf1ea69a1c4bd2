// The environment's queue from a client: the start operation every update-with-start shares, the
// lock and freeze updates, and reading its status (undefined before the first request).
import { WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { GantryError } from '../lib/core/errors';
import {
  freezeUpdate,
  lockUpdate,
  queueStatusQuery,
  queueWorkflowId,
  searchAttributes,
  unfreezeUpdate,
  unlockUpdate,
  type FreezePayload,
  type LockPayload,
  type QueueInput,
  type QueueStatus,
  type UnlockPayload,
} from '../workflows/api';

type QueueWorkflow = (input: QueueInput) => Promise<void>;

/** Starts `queue/<env>` unless it runs; either way the update goes to the running one. */
export function queueStart(environment: string, taskQueue: string): WithStartWorkflowOperation<QueueWorkflow> {
  return new WithStartWorkflowOperation<QueueWorkflow>('queue', {
    workflowId: queueWorkflowId(environment),
    taskQueue,
    args: [{ environment }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    staticSummary: `The deployment queue of ${environment}`,
    staticDetails: 'Every start of a deployment of this environment goes through here; its `status` query lists what runs, waits, was superseded, and the lock.',
    typedSearchAttributes: [{ key: searchAttributes.environment, value: environment }],
  });
}

/** The queue refused the message (malformed, a time that has passed, an unknown environment, a full queue). */
export class QueueRefused extends GantryError {
  override readonly name = 'QueueRefused';
}

export type QueueControl =
  | { action: 'lock'; payload: LockPayload }
  | { action: 'unlock'; payload: UnlockPayload }
  | { action: 'freeze'; payload: FreezePayload }
  | { action: 'unfreeze'; payload: UnlockPayload };

/** Locks, unlocks, freezes or unfreezes; answers with the queue's status after the change. */
export async function controlQueue(client: Client, environment: string, taskQueue: string, control: QueueControl): Promise<QueueStatus> {
  const startWorkflowOperation = queueStart(environment, taskQueue);
  try {
    switch (control.action) {
      case 'lock':
        return await client.workflow.executeUpdateWithStart(lockUpdate, { args: [control.payload], startWorkflowOperation });
      case 'unlock':
        return await client.workflow.executeUpdateWithStart(unlockUpdate, { args: [control.payload], startWorkflowOperation });
      case 'freeze':
        return await client.workflow.executeUpdateWithStart(freezeUpdate, { args: [control.payload], startWorkflowOperation });
      case 'unfreeze':
        return await client.workflow.executeUpdateWithStart(unfreezeUpdate, { args: [control.payload], startWorkflowOperation });
    }
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new QueueRefused(err.cause?.message ?? err.message);
    throw err;
  }
}

/** The queue's status, or undefined when no request ever reached it. */
export async function readQueue(client: Client, environment: string): Promise<QueueStatus | undefined> {
  try {
    return await client.workflow.getHandle(queueWorkflowId(environment)).query(queueStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
