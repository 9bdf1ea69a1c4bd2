import { ORCHESTRATOR_TASK_QUEUE } from '../workflows/api';

/** The orchestrator's task queue: --task-queue, else GANTRY_TASK_QUEUE, else "gantry". */
export const defaultTaskQueue = () => process.env.GANTRY_TASK_QUEUE || ORCHESTRATOR_TASK_QUEUE;
