export { deployment } from './deployment';
export { batchDeployment } from './batch';
export { nodeGroup } from './node-group';
export { nodeDeployment } from './node-deployment';
