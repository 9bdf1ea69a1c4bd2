export { deployment } from './deployment';
export { nodeDeployment } from './node-deployment';
