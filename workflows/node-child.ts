// Starts one node's child workflow (forward or rollback) with what the node needs and nothing more.
import { executeChild, ParentClosePolicy } from '@temporalio/workflow';
import type { Environment, NodeConfig } from '../lib/environment-schema';
import type { ArtifactRef, NodeDeployResult } from './api';
import { nodeDeployment } from './node-deployment';

export function runNodeChild(
  env: Environment,
  node: NodeConfig,
  workflowId: string,
  release: string | null,
  artifact: ArtifactRef | undefined,
): Promise<NodeDeployResult> {
  return executeChild(nodeDeployment, {
    workflowId,
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    args: [
      {
        environment: env.name,
        node,
        loadBalancer: env.loadBalancer,
        healthCheck: env.healthCheck,
        activateTimeoutMs: env.app.stopGrace + env.app.startTimeout,
        release,
        ...(artifact ? { artifact } : {}),
      },
    ],
  });
}
