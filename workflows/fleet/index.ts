// The fleet's workflows (batches, node groups, one node), bundled apart from the deployment workflow
// and run on their own task queue: this bundle holds no schema library, so starting one of the
// thousands of small children costs little.
export { batchDeployment } from './batch';
export { nodeGroup } from './node-group';
export { nodeDeployment } from './node-deployment';
