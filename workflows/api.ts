// Definitions shared by workflows and clients: IDs, task queues, search attributes, messages, input
// and result types. No workflow logic here, so clients can import it freely.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';
import type { Environment, HealthCheck, LoadBalancer, NodeConfig } from '../lib/environment-schema';

export const ORCHESTRATOR_TASK_QUEUE = 'gantry';

/** Fixed ID per environment: a retried request never starts a second deployment, and only one runs at a time. */
export const deploymentWorkflowId = (environment: string) => `deploy/${environment}`;
export const nodeWorkflowId = (environment: string, node: string) => `deploy/${environment}/node/${node}`;
/** Each node's agent polls its own queue; the orchestrator never connects to a node. */
export const agentTaskQueue = (environment: string, node: string) => `gantry-agent/${environment}/${node}`;

export const searchAttributes = {
  environment: defineSearchAttributeKey('GantryEnvironment', SearchAttributeType.KEYWORD),
  release: defineSearchAttributeKey('GantryRelease', SearchAttributeType.KEYWORD),
  phase: defineSearchAttributeKey('GantryPhase', SearchAttributeType.KEYWORD),
  requestedBy: defineSearchAttributeKey('GantryRequestedBy', SearchAttributeType.KEYWORD),
};
export const searchAttributeNames = Object.values(searchAttributes).map((key) => key.name);

export interface ArtifactRef {
  url: string;
  sha256: string;
}

export interface DeployInput {
  environment: Environment;
  release: string;
  artifact: ArtifactRef;
  requestedBy: string;
}

export type Phase = 'verify' | 'preflight' | 'stage' | 'migrate' | 'rollout' | 'live' | 'failed';

/** Where one node stands. `lb` is the load balancer's view: ready, drain, maint, or its status text. */
export interface NodeState {
  id: string;
  release: string | null;
  previousRelease: string | null;
  lb: string;
  state: 'pending' | 'deploying' | 'live' | 'failed';
  error?: string;
}

export interface DeployEvent {
  time: string;
  what: string;
}

export interface DeployStatus {
  workflowId: string;
  runId: string;
  environment: string;
  release: string;
  commit: string | null;
  requestedBy: string;
  phase: Phase;
  nodes: NodeState[];
  events: DeployEvent[];
}

export type DeployResult = Omit<DeployStatus, 'events'> & { status: 'live' | 'failed'; error?: string };

export const statusQuery = defineQuery<DeployStatus>('status');

export interface NodeDeployInput {
  environment: string;
  node: NodeConfig;
  loadBalancer: LoadBalancer;
  healthCheck: HealthCheck;
  /** Bounds the agent's activate step: stop grace + start time-out. */
  activateTimeoutMs: number;
  release: string;
  artifact: ArtifactRef;
}

export interface NodeDeployResult {
  id: string;
  release: string;
  lb: 'ready';
  healthAttempts: number;
}

/** ApplicationFailure types; non-retryable unless said otherwise. */
export const failureTypes = {
  invalidInput: 'InvalidInput',
  unknownTag: 'UnknownTag',
  badDigest: 'BadDigest',
  unsafeArchive: 'UnsafeArchive',
  unknownServer: 'UnknownServer',
  drainTimeout: 'DrainTimeout',
  unhealthy: 'Unhealthy',
  appStart: 'AppStartFailed',
  commandFailed: 'CommandFailed',
  notStaged: 'NotStaged',
  deploymentFailed: 'DeploymentFailed',
} as const;
