// Inputs and results of the fleet's child workflows (batches, node groups, one node). Internal to
// Gantry's workflows: clients start deployments, never these.
import type { Environment } from '../../lib/config/environment-schema';
import type { ArtifactRef } from '../api';
import type { NodeTarget } from '../common/node-steps';

export interface NodeDeployInput extends NodeTarget {
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

export type GroupOp =
  /** The node's current release, and that it is healthy on it. */
  | { op: 'probe' }
  | { op: 'stage'; release: string; artifact: ArtifactRef }
  /** Whether the node still keeps `release` (a rollback downloads nothing). */
  | { op: 'kept'; release: string }
  /** A rollback's look at a sick fleet: whether the agent answers at all (quickly), its release, and whether it is healthy. */
  | { op: 'survey' };

export interface GroupInput {
  /** The environment with only this group's nodes. */
  environment: Environment;
  op: GroupOp;
}

export interface NodeFact {
  id: string;
  release?: string | null;
  kept?: boolean;
  /** survey: false when the agent did not answer in time (error says how). */
  reachable?: boolean;
  healthy?: boolean;
  error?: string;
}
