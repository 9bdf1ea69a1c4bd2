// The deployment workflow's bundle; its children run from fleet/index.ts's bundle on the fleet task queue.
export { deployment } from './deployment';
export { listEnvironments } from './environments';
export { fleetSurvey } from './survey';
export { warmPool } from './warm-pool';
export { queue } from '../queue/queue';
