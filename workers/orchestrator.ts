// The orchestrator worker: runs deployment workflows and the control activities.
import { Runtime, Worker } from '@temporalio/worker';
import { createControlActivities } from '../activities/control';
import { createVerificationActivities } from '../activities/verification';
import { defaultMirrorsDir } from '../lib/git-mirror';
import type { Logger } from '../lib/logger';
import { ORCHESTRATOR_TASK_QUEUE } from '../workflows/api';
import { connectWorker } from './connection';
import { workflowBundle } from './workflow-bundle';

export async function runOrchestratorWorker(logger: Logger, taskQueue = ORCHESTRATOR_TASK_QUEUE): Promise<void> {
  const { connection, namespace } = await connectWorker();
  try {
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      // Deliver cancellation (abort) to heartbeating activities within a second.
      maxHeartbeatThrottleInterval: '1s',
      // A dead worker's workflows move to a live one after this, instead of the default 10 s.
      stickyQueueScheduleToStartTimeout: '3s',
      workflowBundle: await workflowBundle(Runtime.instance().logger),
      activities: {
        ...createControlActivities({ logger: logger.child({ component: 'control' }) }),
        ...createVerificationActivities({ logger: logger.child({ component: 'verification' }), mirrorsDir: defaultMirrorsDir() }),
      },
    });
    logger.info({ taskQueue, namespace }, 'orchestrator worker running');
    await worker.run();
  } finally {
    await connection.close();
  }
}
