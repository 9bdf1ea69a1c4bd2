import type { Client } from '@temporalio/client';

/** The activity types a workflow scheduled, in order (the latest run unless `runId` is given). */
export async function activityNames(client: Client, workflowId: string, runId?: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return (history.events ?? []).flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
}
