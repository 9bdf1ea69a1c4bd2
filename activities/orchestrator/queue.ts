// What the queue workflow asks of the server: a deployment started outside the queue (by an older
// client, or while the queue was terminated) holds `deploy/<env>`; wait for it to end before the next.
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Logger } from '../../lib/core/logger';
import { sleep } from '../../lib/core/wait';

export function createQueueActivities({ logger }: { logger: Logger }) {
  return {
    /** Returns once the workflow's latest run is closed (or it does not exist), with its run id and status. */
    async awaitDeploymentClosed({ workflowId }: { workflowId: string }): Promise<{ runId: string | null; status: string }> {
      const ctx = Context.current();
      const handle = ctx.client.workflow.getHandle(workflowId);
      for (;;) {
        try {
          const { runId, status } = await handle.describe();
          if (status.name !== 'RUNNING') return { runId, status: status.name };
          ctx.heartbeat({ runId });
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return { runId: null, status: 'NOT_FOUND' };
          throw err;
        }
        logger.debug({ workflowId }, 'a deployment started outside the queue is still running');
        await sleep(1_000, undefined, { signal: ctx.cancellationSignal }).catch(() => undefined);
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
      }
    },
  };
}

export type QueueActivities = ReturnType<typeof createQueueActivities>;
