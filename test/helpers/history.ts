import type { Client } from '@temporalio/client';
import { payloadJson } from './payloads';

/**
 * The activity types a workflow ran, in order (the latest run unless `runId` is given): scheduled
 * activities, and local activities from their markers (core records the type in the marker's data).
 */
export async function activityNames(client: Client, workflowId: string, runId?: string): Promise<string[]> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const names = await Promise.all(
    (history.events ?? []).map(async (e) => {
      const scheduled = e.activityTaskScheduledEventAttributes?.activityType?.name;
      if (scheduled) return [scheduled];
      const data = e.markerRecordedEventAttributes?.markerName === 'core_local_activity' ? e.markerRecordedEventAttributes.details?.data?.payloads?.[0] : undefined;
      return data ? [(await payloadJson<{ activity_type: string }>(data)).activity_type] : [];
    }),
  );
  return names.flat();
}
