// What a running deployment is waiting on right now: activities that failed and are being retried,
// with their attempt count and last error, in the deployment or any of its running children (a stage
// runs in a node group's child). The workflow cannot see its own retries; the server keeps them as
// pending activities, and that is what the Web UI shows too. Messages are decoded with the payload
// codec (failure messages are encrypted in history).
import type { WorkflowClient } from '@temporalio/client';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import { clientDataConverter } from './data-converter';

export interface WaitingStep {
  /** The workflow the activity belongs to: the deployment, or a child named for its batch or node group. */
  workflowId: string;
  activity: string;
  attempt: number;
  lastError: string | null;
  /** When the next attempt is due (ISO), if the server says. */
  nextAttemptAt: string | null;
}

const MAX_WORKFLOWS = 40;

export async function waitingSteps(workflows: WorkflowClient, workflowId: string, runId?: string): Promise<WaitingStep[]> {
  const converter = clientDataConverter();
  const steps: WaitingStep[] = [];
  const queue: Array<{ workflowId: string; runId?: string }> = [{ workflowId, ...(runId ? { runId } : {}) }];
  for (let seen = 0; queue.length > 0 && seen < MAX_WORKFLOWS; seen++) {
    const at = queue.shift()!;
    const description = await workflows
      .getHandle(at.workflowId, at.runId)
      .describe()
      .catch(() => undefined);
    if (!description || description.status.name !== 'RUNNING') continue;
    for (const pending of description.raw.pendingActivities ?? []) {
      const attempt = pending.attempt ?? 1;
      if (attempt <= 1 && !pending.lastFailure) continue;
      const error = await decodeOptionalFailureToOptionalError(converter, pending.lastFailure).catch(() => undefined);
      const due = pending.scheduledTime?.seconds ? new Date(Number(pending.scheduledTime.seconds) * 1000).toISOString() : null;
      steps.push({ workflowId: description.workflowId, activity: pending.activityType?.name ?? '?', attempt, lastError: error?.message ?? null, nextAttemptAt: due });
    }
    for (const child of description.raw.pendingChildren ?? []) {
      if (child.workflowId) queue.push({ workflowId: child.workflowId, ...(child.runId ? { runId: child.runId } : {}) });
    }
  }
  return steps;
}

/** "stage (deploy/prod/stage-1), attempt 4: <last error>" */
export function describeWaiting(step: WaitingStep): string {
  return `${step.activity} (${step.workflowId}), attempt ${step.attempt}${step.lastError ? `: ${step.lastError}` : ''}`;
}
