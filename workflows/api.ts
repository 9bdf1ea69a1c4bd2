// Definitions shared by workflows and clients: IDs, task queues, search attributes, messages, input
// and result types. No workflow logic here, so clients can import it freely.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Environment, HealthCheck, LoadBalancer, NodeConfig } from '../lib/environment-schema';

export const ORCHESTRATOR_TASK_QUEUE = 'gantry';

/** Fixed ID per environment: a retried request never starts a second deployment, and only one runs at a time. */
export const deploymentWorkflowId = (environment: string) => `deploy/${environment}`;
export const nodeWorkflowId = (environment: string, node: string) => `deploy/${environment}/node/${node}`;
export const nodeRollbackWorkflowId = (environment: string, node: string) => `deploy/${environment}/node/${node}/rollback`;
/** Children that keep every history small at any fleet size: one per batch, one per group of nodes. */
export const batchWorkflowId = (environment: string, kind: 'rollout' | 'undo', n: number) => `deploy/${environment}/${kind}/${n}`;
export const groupWorkflowId = (environment: string, op: string, n: number) => `deploy/${environment}/${op}/${n}`;
/** The orchestrator's second worker, for the fleet's child workflows (see workflows/fleet.ts). */
export const fleetTaskQueue = (orchestratorQueue: string) => (orchestratorQueue.endsWith('/fleet') ? orchestratorQueue : `${orchestratorQueue}/fleet`);
/** Each node's agent polls its own queue; the orchestrator never connects to a node. */
export const agentTaskQueue = (environment: string, node: string) => `gantry-agent/${environment}/${node}`;

export const searchAttributes = {
  environment: defineSearchAttributeKey('GantryEnvironment', SearchAttributeType.KEYWORD),
  release: defineSearchAttributeKey('GantryRelease', SearchAttributeType.KEYWORD),
  phase: defineSearchAttributeKey('GantryPhase', SearchAttributeType.KEYWORD),
  requestedBy: defineSearchAttributeKey('GantryRequestedBy', SearchAttributeType.KEYWORD),
};

export interface ArtifactRef {
  url: string;
  sha256: string;
}

export interface DeployInput {
  environment: Environment;
  release: string;
  /** When the requester names the commit the tag must point at. */
  commit?: string;
  /** Absent for a rollback to a release every node still keeps: nothing is downloaded. */
  artifact?: ArtifactRef;
  requestedBy: string;
  kind?: 'deploy' | 'rollback';
  /** Set by continue-as-new between batches: where the previous run stopped. */
  resume?: ResumePoint;
}

/** What a deployment carries into its next run when its history grows long. */
export interface ResumePoint {
  nextBatch: number;
  /** Nodes changed so far, in the order they changed (what compensation undoes). */
  changed: string[];
  state: StateSnapshot;
}

export interface StateSnapshot {
  phase: Phase;
  commit: string | null;
  changes: ChangeSummary | null;
  nodes: NodeState[];
  approvals: Approval[];
  pausedBy: string | null;
  cause: FailureCause | null;
  undoFailures: UndoFailure[];
  migration: MigrationRecord;
  events: DeployEvent[];
}

export type Phase =
  | 'verify'
  | 'preflight'
  | 'stage'
  | 'migrate'
  | 'awaiting-approval'
  | 'contract'
  | 'rollout'
  | 'rolling-back'
  | 'live'
  | 'failed'
  | 'rolled-back'
  | 'aborted';

export const terminalPhases: readonly Phase[] = ['live', 'failed', 'rolled-back', 'aborted'];

/** Where one node stands. `lb` is the load balancer's view: ready, drain, maint or down. */
export interface NodeState {
  id: string;
  release: string | null;
  previousRelease: string | null;
  lb: string;
  state: 'pending' | 'deploying' | 'live' | 'failed' | 'rolled-back';
  error?: string;
}

export interface DeployEvent {
  time: string;
  /** The operator behind the event, when there is one. */
  who?: string;
  what: string;
}

export interface Approval {
  by: string;
  comment?: string;
  time: string;
}

/** Why a deployment rolled back: the node, the step and the error. */
export interface FailureCause {
  node?: string;
  step?: string;
  error: string;
}

/** The commits going out (newest first, at most 200) and how many there are in all. */
export interface ChangeSummary {
  from: string | null;
  to: string;
  total: number;
  commits: { sha: string; author: string; subject: string }[];
}

export interface UndoFailure {
  node: string;
  error: string;
}

export interface DeployStatus {
  workflowId: string;
  runId: string;
  environment: string;
  release: string;
  commit: string | null;
  changes: ChangeSummary | null;
  requestedBy: string;
  phase: Phase;
  paused: boolean;
  approvals: Approval[];
  /** Approvals still needed while awaiting approval; 0 otherwise. */
  approvalsNeeded: number;
  nodes: NodeState[];
  migration: MigrationRecord | null;
  events: DeployEvent[];
}

/** What the migration step did in this deployment. */
export interface MigrationRecord {
  backup?: { file: string; bytes: number; durationMs: number; schema: string };
  expandAttempted?: boolean;
  expanded?: boolean;
  expandMs?: number;
  /** Backup + expand, as the deployment saw it. */
  overheadMs?: number;
  contracted?: boolean;
  undone?: 'kept' | 'restored' | 'down';
  /** Downtime mode: from the last node leaving rotation (its drain) to the first back in, as the load balancer saw it. */
  downtimeMs?: number;
}

export type DeployOutcomeStatus = 'live' | 'failed' | 'rolled-back' | 'aborted';

export type DeployResult = Omit<DeployStatus, 'events'> & {
  status: DeployOutcomeStatus;
  error?: string;
  cause?: FailureCause;
  undoFailures: UndoFailure[];
};

export const statusQuery = defineQuery<DeployStatus>('status');

// Operator messages. Signals take plain JSON so `temporal workflow signal --input '{"by":"alice"}'`
// works; updates of the same names validate first (operator-payloads.ts) and answer with the new status.
export interface ApprovePayload {
  by: string;
  comment?: string;
}
export interface AbortPayload {
  by: string;
  reason: string;
}
export interface OperatorPayload {
  by: string;
}

export const approveSignal = defineSignal<[ApprovePayload]>('approve');
export const abortSignal = defineSignal<[AbortPayload]>('abort');
export const pauseSignal = defineSignal<[OperatorPayload]>('pause');
export const resumeSignal = defineSignal<[OperatorPayload]>('resume');
export const approveUpdate = defineUpdate<DeployStatus, [ApprovePayload]>('approve');
export const abortUpdate = defineUpdate<DeployStatus, [AbortPayload]>('abort');
export const pauseUpdate = defineUpdate<DeployStatus, [OperatorPayload]>('pause');
export const resumeUpdate = defineUpdate<DeployStatus, [OperatorPayload]>('resume');

export interface NodeDeployInput {
  environment: string;
  node: NodeConfig;
  loadBalancer: LoadBalancer;
  healthCheck: HealthCheck;
  /** Bounds the agent's activate step: stop grace + start time-out. */
  activateTimeoutMs: number;
  /** null: take the node out of rotation and stop its app (undoing a fresh node's first deployment). */
  release: string | null;
}

export interface NodeDeployResult {
  id: string;
  release: string | null;
  lb: 'ready' | 'maint';
  healthAttempts: number;
}

/** A batch of nodes, run as one child workflow: forward to `release`, or back to each node's own target. */
export interface BatchInput {
  /** The environment with only this batch's nodes. */
  environment: Environment;
  mode: 'rollout' | 'undo';
  release: string;
  /** undo: the release each node goes back to (null: out of rotation). */
  targets?: Record<string, string | null>;
  /** At most this many of the batch's nodes changing at once. */
  concurrency: number;
}

export type NodeOutcome =
  | ({ ok: true } & NodeDeployResult)
  | { ok: false; id: string; error: string; step?: string; cancelled: boolean; started: boolean };

/** ApplicationFailure types; non-retryable unless said otherwise. */
export const failureTypes = {
  invalidInput: 'InvalidInput',
  digestMismatch: 'DigestMismatch',
  checksFailed: 'ChecksFailed',
  checksTimedOut: 'ChecksTimedOut',
  checksUnavailable: 'ChecksUnavailable',
  unsafeArchive: 'UnsafeArchive',
  unknownServer: 'UnknownServer',
  drainTimeout: 'DrainTimeout',
  unhealthy: 'Unhealthy',
  appStart: 'AppStartFailed',
  commandFailed: 'CommandFailed',
  notStaged: 'NotStaged',
  deploymentFailed: 'DeploymentFailed',
  deploymentRolledBack: 'DeploymentRolledBack',
  deploymentAborted: 'DeploymentAborted',
  notKept: 'ReleaseNotKept',
  nodeFailed: 'NodeFailed',
} as const;
