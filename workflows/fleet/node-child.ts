// Starts one node's child workflow (forward or rollback) with what the node needs and nothing more.
import { executeChild, ParentClosePolicy, workflowInfo } from '@temporalio/workflow';
import type { Environment, NodeConfig } from '../../lib/config/environment-schema';
import { fleetTaskQueue } from '../api';
import type { NodeDeployResult } from './types';
import { nodeDeployment } from './node-deployment';

export function runNodeChild(
  env: Environment,
  node: NodeConfig,
  workflowId: string,
  release: string | null,
  leaveInMaint = false,
  rehearsal?: string,
): Promise<NodeDeployResult> {
  return executeChild(nodeDeployment, {
    workflowId,
    taskQueue: fleetTaskQueue(workflowInfo().taskQueue),
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    args: [
      {
        environment: env.name,
        node,
        loadBalancer: env.loadBalancer,
        healthCheck: env.healthCheck,
        activateTimeoutMs: env.app.stopGrace + env.app.startTimeout,
        release,
        ...(leaveInMaint ? { leaveInMaint } : {}),
        ...(rehearsal ? { rehearsal } : {}),
      },
    ],
  });
}
