// The orchestrator worker: runs deployment workflows and the control activities.
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createControlActivities, type ControlDeps } from '../activities/control';
import { createVerificationActivities } from '../activities/verification';
import { defaultMirrorsDir } from '../lib/git-mirror';
import type { Logger } from '../lib/logger';
import { fleetTaskQueue, ORCHESTRATOR_TASK_QUEUE } from '../workflows/api';
import { connectWorker } from './connection';
import { workflowBundle } from './workflow-bundle';

export interface OrchestratorOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  logger: Logger;
  /** Benchmarks only: an in-process load balancer instead of HAProxy. */
  loadBalancer?: ControlDeps['loadBalancer'];
}

export interface OrchestratorWorkers {
  run(): Promise<void>;
  shutdown(): void;
}

/**
 * Two workers in one process: the deployment workflow (with verification and control activities) on
 * `taskQueue`, and the fleet's child workflows (batches, node groups, nodes — with the control
 * activities their local and group steps use) on the fleet queue, from a bundle without zod.
 */
export async function createOrchestratorWorker({ connection, namespace, taskQueue, logger, loadBalancer }: OrchestratorOptions): Promise<OrchestratorWorkers> {
  const control = createControlActivities({ logger: logger.child({ component: 'control' }), ...(loadBalancer ? { loadBalancer } : {}) });
  const common = {
    connection,
    namespace,
    // Deliver cancellation (abort) to heartbeating activities within a second.
    maxHeartbeatThrottleInterval: '1s',
    // A dead worker's workflows move to a live one after this, instead of the default 10 s.
    stickyQueueScheduleToStartTimeout: '3s',
  } as const;
  const [deploymentBundle, fleetBundle] = await Promise.all([
    workflowBundle(Runtime.instance().logger, 'deployment'),
    workflowBundle(Runtime.instance().logger, 'fleet'),
  ]);
  const workers = await Promise.all([
    Worker.create({
      ...common,
      taskQueue,
      workflowBundle: deploymentBundle,
      activities: {
        ...control,
        ...createVerificationActivities({ logger: logger.child({ component: 'verification' }), mirrorsDir: defaultMirrorsDir() }),
      },
    }),
    Worker.create({ ...common, taskQueue: fleetTaskQueue(taskQueue), workflowBundle: fleetBundle, activities: control }),
  ]);
  return {
    run: async () => {
      await Promise.all(workers.map((w) => w.run()));
    },
    shutdown: () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}

export async function runOrchestratorWorker(logger: Logger, taskQueue = ORCHESTRATOR_TASK_QUEUE): Promise<void> {
  const { connection, namespace } = await connectWorker();
  try {
    const worker = await createOrchestratorWorker({ connection, namespace, taskQueue, logger });
    logger.info({ taskQueue, fleetTaskQueue: fleetTaskQueue(taskQueue), namespace }, 'orchestrator worker running');
    await worker.run();
  } finally {
    await connection.close();
  }
}
