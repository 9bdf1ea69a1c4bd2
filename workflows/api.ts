// The public contract of Gantry's workflows, what clients (CLI, webhook, CI, bench, tests) use: IDs,
// task queues, search attributes, messages, and the deployment's input, status and result. No
// workflow logic here, so clients can import it freely; child workflows' types live beside them.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PoolName } from '../lib/config/blue-green-schema';
import type { DeploymentShape } from '../lib/rollout/batches';
import type { SmokeResult } from '../lib/node/smoke-checks';
import type { PromotionSource } from '../activities/orchestrator/promotion';

export type { DeploymentShape, PoolName, SmokeResult };

export const ORCHESTRATOR_TASK_QUEUE = 'gantry';

/** Fixed ID per environment: a retried request never starts a second deployment, and only one runs at a time. */
export const deploymentWorkflowId = (environment: string) => `deploy/${environment}`;
export const nodeWorkflowId = (environment: string, node: string) => `deploy/${environment}/node/${node}`;
export const nodeRollbackWorkflowId = (environment: string, node: string) => `deploy/${environment}/node/${node}/rollback`;
/** Children that keep every history small at any fleet size: one per batch, one per group of nodes. */
export const batchWorkflowId = (environment: string, kind: 'rollout' | 'undo', n: number) => `deploy/${environment}/${kind}/${n}`;
export const groupWorkflowId = (environment: string, op: string, n: number) => `deploy/${environment}/${op}/${n}`;
/** The orchestrator's second worker, for the fleet's child workflows (see workflows/fleet/index.ts). */
export const fleetTaskQueue = (orchestratorQueue: string) => (orchestratorQueue.endsWith('/fleet') ? orchestratorQueue : `${orchestratorQueue}/fleet`);
/** Blue-green: the old pool's warm period after a switch, which `gantry switch-back` talks to; one per environment. */
export const warmWorkflowId = (environment: string) => `warm/${environment}`;
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

/**
 * A request: which environment, which release, who asks. It carries no policy, commands, URLs or
 * nodes — the orchestrator reads those from its own definition of the environment.
 */
export interface DeployInput {
  /** The environment's name; its definition lives with the orchestrator (GANTRY_ENVIRONMENTS). */
  environment: string;
  release: string;
  /** When the requester names the commit the tag must point at. */
  commit?: string;
  /** sha256 of the artifact, fetched from the definition's artifact.url; absent for a rollback (nothing is downloaded). */
  artifactSha256?: string;
  requestedBy: string;
  kind?: 'deploy' | 'rollback';
  /** With kind rollback: `gantry repair` (only nodes off the invariant change; no migration runs). */
  repair?: true;
  /** The numbers that shape the workflow's commands; the client fills in the current defaults. */
  shape?: DeploymentShape;
  /** gantry promote: deploy the artifact that went live in the definition's promotion.from. */
  promote?: true;
}

export type { PromotionSource } from '../activities/orchestrator/promotion';

export type { EnvironmentListing } from '../activities/orchestrator/definitions';

export const listEnvironmentsWorkflowId = (id: string) => `environments/${id}`;
/** `gantry repair`'s read-only look at an environment's fleet. */
export const fleetSurveyWorkflowId = (environment: string, id: string) => `survey/${environment}/${id}`;

/** What `gantry repair` found: per node, what its agent runs, whether healthy on it, and its load-balancer state. */
export interface FleetSurvey {
  environment: string;
  definitionSha256: string;
  nodes: {
    id: string;
    lb: string;
    reachable: boolean;
    /** The release of the running app (null: none runs). */
    release: string | null;
    /** What the node's `current` names, when it is not what runs (a half-done activation). */
    current?: string | null;
    healthy: boolean;
    error?: string;
  }[];
}

export type Phase =
  | 'verify'
  | 'preflight'
  | 'stage'
  | 'migrate'
  | 'awaiting-approval'
  | 'rehearsal'
  | 'smoke-test'
  | 'switch'
  | 'watch'
  | 'contract'
  | 'rollout'
  | 'rolling-back'
  | 'live'
  | 'failed'
  | 'rolled-back'
  | 'aborted';

export const terminalPhases: readonly Phase[] = ['live', 'failed', 'rolled-back', 'aborted'];

/** Where one node stands. `lb` is the load balancer's view: ready, drain, maint or down. */
/** The CI provider could not be asked about the tag's commit. */
export interface CiUnavailable {
  commit: string;
  since: string;
  error: string;
  /** The checks the definition requires (empty: every reported one). */
  checks: string[];
}

/** An operator's acceptance of going on without the CI checks (the provider was down). */
export interface UncheckedAcceptance extends CiUnavailable {
  by: string;
  reason: string;
  at: string;
}

export interface NodeState {
  id: string;
  release: string | null;
  previousRelease: string | null;
  lb: string;
  state: 'pending' | 'deploying' | 'live' | 'failed' | 'rolled-back';
  error?: string;
  /** An operator had its server in MAINT before the deployment: it gets the release and stays in MAINT. */
  heldInMaint?: boolean;
  /** Blue-green: the node's pool. */
  pool?: PoolName;
  /** config.templates: the files rendered on the node and the facts it received (names only, no values). */
  config?: { rendered: string[]; facts: string[] };
}

/** A blue-green deployment's pools: which one users reach, what the smoke tests said, the switch and the warm period. */
export interface PoolStatus {
  /** The pool users reach now. */
  live: PoolName;
  /** The pool the release goes to (and, before the switch, the one the shadow address reaches). */
  target: PoolName;
  backends: Record<PoolName, string>;
  nodes: Record<PoolName, string[]>;
  shadowUrl: string;
  smoke: SmokeResult[];
  /** The switch was sent to HAProxy (it may have taken effect even if the call failed or was cancelled). */
  switchAttempted?: boolean;
  switchedAt?: string;
  switchedBack?: { at: string; why: string };
  /** The post-switch watch: until when, and what it counted. */
  watch?: { until: string; http5xx?: number; connectionErrors?: number; requests?: number };
  /** Until when the old pool stays warm for `gantry switch-back` (absent: it served nothing, or no switch). */
  warmUntil?: string;
}

/** `gantry switch-back`: who asks and why. */
export interface SwitchBackPayload {
  by: string;
  reason?: string;
  /** Signed over the warm period's run (its workflow and run id) and the release it switches away from. */
  signature?: SignedStatement;
}

/** Where a warm period stands; its workflow's result once it ends. */
export interface WarmStatus {
  environment: string;
  /** The release the switch put live, and the one the warm pool runs. */
  release: string;
  warmRelease: string;
  live: PoolName;
  warm: PoolName;
  switchedAt: string;
  warmUntil: string;
  state: 'warm' | 'switched-back' | 'stopped' | 'superseded';
  /** When it switched back or stopped, and who asked. */
  at?: string;
  by?: string;
  reason?: string;
  /** A switch back that could not be done (no server of the warm pool up); it stays warm. */
  error?: string;
  /** Nodes whose app could not be stopped when the pool stopped. */
  stopFailures?: UndoFailure[];
  /** The contract migration, run once the old pool stopped (a switch back needs the old schema until then). */
  contract?: { ran: boolean; runner: string; durationMs?: number; error?: string };
  deploymentRunId: string;
  /** What a signed switch-back is bound to: this warm period's run, and the deployment's release, commit, artifact and plan. */
  workflowId: string;
  runId: string;
  commit: string | null;
  artifactSha256: string | null;
  plan: { hash: string; summary: string } | null;
  signing: { control: boolean };
}

export interface DeployEvent {
  time: string;
  /** The operator behind the event, when there is one. */
  who?: string;
  what: string;
}

export interface Approval {
  /** The principal (a requester's alias mapped through identity.aliases). */
  by: string;
  comment?: string;
  time: string;
  /** Signed by a key of `by` in the allowed-signers file, checked by the orchestrator. Absent: an approval from before signing existed. */
  verified?: boolean;
  /** SHA256:… of the key that signed. */
  fingerprint?: string;
  /** sha256 of the exact statement signed (the audit bundle names its files by it). */
  statementSha256?: string;
}

/** An operator's statement (lib/identity/statement.ts, canonical JSON) and its armored `ssh-keygen -Y sign` signature. */
export interface SignedStatement {
  statement: string;
  signature: string;
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
  /** sha256 of the orchestrator's definition this deployment runs under (null: a deployment from before definitions lived there). */
  definitionSha256: string | null;
  /** sha256 of the artifact being deployed (null for a rollback): signed statements name it. */
  artifactSha256: string | null;
  /** The plan signed statements are bound to (nodes, batches, strategy, migrations), and a line describing it. */
  plan: { hash: string; summary: string } | null;
  phase: Phase;
  paused: boolean;
  approvals: Approval[];
  /** Approvals still needed while awaiting approval; 0 otherwise. */
  approvalsNeeded: number;
  /** What the approval rules still miss ("1 more of sre"); empty when nothing is awaited. */
  approvalsMissing: string[];
  /** approval.requireAuthors: the authors of the changes going out, their commits, and whether each has approved. */
  authors?: { principal: string; email: string; commits: number; approved: boolean }[];
  /** gantry promote: the upstream run whose artifact this deploys. */
  promotedFrom?: PromotionSource;
  /** ci.whenUnavailable operator: the CI provider cannot be asked right now. */
  ciUnavailable?: CiUnavailable;
  /** CI checks that went unchecked, and who accepted that. */
  unchecked?: UncheckedAcceptance;
  /** identity: the environment checks signatures; approvals: only signed approvals count; control: abort, pause and resume must be signed. */
  signing: { identity: boolean; approvals: boolean; control: boolean };
  nodes: NodeState[];
  migration: MigrationRecord | null;
  /** Blue-green only. */
  pools?: PoolStatus;
  events: DeployEvent[];
}

/** What the migration step did in this deployment. */
export interface MigrationRecord {
  /** `copy`: the verified copy off the runner (the node's migrations.backups.copyTo). */
  backup?: { file: string; bytes: number; durationMs: number; schema: string; copy?: string };
  expandAttempted?: boolean;
  expanded?: boolean;
  expandMs?: number;
  /** Backup + expand, as the deployment saw it. */
  overheadMs?: number;
  contracted?: boolean;
  /** The contract step failed after every node went live: reported, nothing rolled back (the schema may be partly contracted). */
  contractFailed?: string;
  undone?: 'kept' | 'restored' | 'down';
  /** Blue-green's rehearsal on a copy of the database: its name, size, how it was made and how long it took, the expand on it, and whether it is dropped. */
  rehearsal?: { database: string; bytes: number; copyMs: number; method: 'template' | 'dump'; expandMs?: number; smokePassed?: boolean; dropped?: boolean };
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
// Each may carry `signature`: the signed statement that proves `by` (gantry signs when a key is at hand).
export interface ApprovePayload {
  by: string;
  comment?: string;
  signature?: SignedStatement;
}
export interface AbortPayload {
  by: string;
  reason: string;
  signature?: SignedStatement;
}
/** An approver says no: the deployment ends as aborted before any node changes. */
export interface RejectPayload {
  by: string;
  reason: string;
  signature?: SignedStatement;
}
export interface OperatorPayload {
  by: string;
  signature?: SignedStatement;
}

export const approveSignal = defineSignal<[ApprovePayload]>('approve');
export const abortSignal = defineSignal<[AbortPayload]>('abort');
export const pauseSignal = defineSignal<[OperatorPayload]>('pause');
export const resumeSignal = defineSignal<[OperatorPayload]>('resume');
export const rejectSignal = defineSignal<[RejectPayload]>('reject');
export const rejectUpdate = defineUpdate<DeployStatus, [RejectPayload]>('reject');
export const approveUpdate = defineUpdate<DeployStatus, [ApprovePayload]>('approve');
export const abortUpdate = defineUpdate<DeployStatus, [AbortPayload]>('abort');
export const pauseUpdate = defineUpdate<DeployStatus, [OperatorPayload]>('pause');
export const resumeUpdate = defineUpdate<DeployStatus, [OperatorPayload]>('resume');
/** ci.whenUnavailable operator: go on without the CI checks the provider cannot answer for; recorded with who and why. */
export const acceptUncheckedSignal = defineSignal<[AbortPayload]>('accept-unchecked');
export const acceptUncheckedUpdate = defineUpdate<DeployStatus, [AbortPayload]>('accept-unchecked');

export const warmStatusQuery = defineQuery<WarmStatus>('status');
/** Answers once traffic is back on the warm pool (or refuses: it is not warm). */
export const switchBackUpdate = defineUpdate<WarmStatus, [SwitchBackPayload]>('switchBack');
/** A new deployment takes the idle pool: the warm period ends without touching it. */
export const supersedeSignal = defineSignal('supersede');

export * from './queue-api';
