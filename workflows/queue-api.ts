// The public contract of the per-environment queue `queue/<env>`: every start (CLI, webhook, CI,
// promotion) is an `enqueue` update on it, so a request learns at once whether it started, attached
// to the same request, waits (and behind what), or is refused. Locks and freezes are its state.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { QueuePolicy, QueueSettings } from '../lib/config/queue-schema';
import type { WindowState } from '../lib/queue/windows';
import type { DeployEvent, DeployInput, DeployOutcomeStatus } from './api';

export type { QueuePolicy, WindowState };

/** One long-lived workflow per environment owns its deployments over time. */
export const queueWorkflowId = (environment: string) => `queue/${environment}`;

export interface QueueInput {
  environment: string;
  /** What a continued run carries over (continue-as-new); never from a client. */
  carried?: QueueSnapshot;
}

export interface CoveredRelease {
  /** The request that asked for it. */
  id: string;
  release: string;
  requestedBy: string;
  requestedAt: string;
}

export interface QueuedRequest {
  /** r1, r2, …: stable for the queue's lifetime (it survives continue-as-new). */
  id: string;
  release: string;
  kind: 'deploy' | 'rollback';
  commit: string | null;
  artifactSha256: string | null;
  requestedBy: string;
  /** Everyone this request answers for: latest-wins hands a replaced request's requesters on. */
  requesters: string[];
  /** batch: every release this deployment covers, oldest first, its own last. */
  covers: CoveredRelease[];
  requestedAt: string;
  /** What the deployment starts with (names and a digest only: no policy). */
  input: DeployInput;
}

export interface RunningRequest extends QueuedRequest {
  workflowId: string;
  runId: string;
  startedAt: string;
}

export interface SupersededRequest {
  id: string;
  release: string;
  requesters: string[];
  requestedAt: string;
  supersededAt: string;
  /** The request that replaced it (and carries its requesters). */
  by: { id: string; release: string };
}

export interface FinishedRequest {
  id: string;
  release: string;
  kind: 'deploy' | 'rollback';
  workflowId: string;
  runId: string;
  /** ended: terminated or timed out, without a result. */
  status: DeployOutcomeStatus | 'ended';
  endedAt: string;
  error?: string;
}

export interface QueueLock {
  by: string;
  reason: string;
  since: string;
  /** null: until `gantry unlock`. */
  expiresAt: string | null;
  /** Set by the queue itself after a deployment rolled back (queue.lockOnRollback). */
  automatic: boolean;
  /** automatic: the release that failed (a "rollback" to it is held like a deployment). */
  release?: string;
}

export interface QueueFreeze {
  by: string;
  reason: string;
  since: string;
  until: string;
}

/** The one condition holding the next deployment, and what would clear it. */
export interface Hold {
  /** checks: batch, and no waiting release is green yet. */
  kind: 'running' | 'lock' | 'freeze' | 'window' | 'outside' | 'definition' | 'checks';
  what: string;
  clears: string;
  /** When it clears by itself (a lock's expiry, a freeze's end, a window's opening). */
  until?: string;
}

export interface QueueStatus {
  workflowId: string;
  runId: string;
  environment: string;
  /** As the definition said at the last request (null: none read yet). */
  policy: QueuePolicy | null;
  running: RunningRequest | null;
  pending: QueuedRequest[];
  /** Newest last; the last 50. */
  superseded: SupersededRequest[];
  /** Newest last; the last 20. */
  finished: FinishedRequest[];
  lock: QueueLock | null;
  freeze: QueueFreeze | null;
  /** Deploy windows as last read (null: none defined). */
  window: WindowState | null;
  /** Why the next pending request has not started (null: nothing pending, or it is starting). */
  hold: Hold | null;
  /** Newest last; the last 100. */
  events: DeployEvent[];
  /** promotion.auto as last read: where the queue looks for a baked release by itself (absent: it does not). */
  autoPromotion?: { from: string; bakeMs: number; checkEveryMs: number } | null;
  /** The queue settings as last read (absent in runs from before auto-promotion). */
  settings?: QueueSettings | null;
}

export type QueueSnapshot = Omit<QueueStatus, 'workflowId' | 'runId' | 'hold'> & { nextId: number };

export interface EnqueueAnswer {
  id: string;
  /** started: it is the deployment now; attached: the same request (release, commit, artifact, kind, requester) was already here. */
  status: 'started' | 'attached' | 'queued';
  /** 0: running; 1: next; … */
  position: number;
  deployment?: { workflowId: string; runId: string };
  /** latest-wins: the pending requests this one replaced. */
  replaced: string[];
  hold: Hold | null;
}

export interface LockPayload {
  by: string;
  reason: string;
  /** ISO time; absent: until unlocked. */
  expiresAt?: string;
}
export interface FreezePayload {
  by: string;
  reason: string;
  until: string;
}
export interface UnlockPayload {
  by: string;
}

export const enqueueUpdate = defineUpdate<EnqueueAnswer, [DeployInput]>('enqueue');
export const lockUpdate = defineUpdate<QueueStatus, [LockPayload]>('lock');
export const unlockUpdate = defineUpdate<QueueStatus, [UnlockPayload]>('unlock');
export const freezeUpdate = defineUpdate<QueueStatus, [FreezePayload]>('freeze');
export const unfreezeUpdate = defineUpdate<QueueStatus, [UnlockPayload]>('unfreeze');
export const queueStatusQuery = defineQuery<QueueStatus>('status');
