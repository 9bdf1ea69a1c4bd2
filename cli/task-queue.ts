import { ORCHESTRATOR_TASK_QUEUE } from '../workflows/api';
import { setting } from '../lib/config/settings';

/** The orchestrator's task queue: --task-queue, else GANTRY_TASK_QUEUE, else "gantry". */
export const defaultTaskQueue = () => setting('GANTRY_TASK_QUEUE') ?? ORCHESTRATOR_TASK_QUEUE;
