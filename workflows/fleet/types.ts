// Inputs and results of the fleet's child workflows (batches, node groups, one node). Internal to
// Gantry's workflows: clients start deployments, never these.
import type { Environment } from '../../lib/config/environment-schema';
import type { ArtifactRef } from '../api';
import type { NodeTarget } from '../common/node-steps';

export interface NodeDeployInput extends NodeTarget {
  /** null: take the node out of rotation and stop its app (undoing a fresh node's first deployment). */
  release: string | null;
  /** An operator had the server in MAINT before the deployment: it stays there. */
  leaveInMaint?: boolean;
}

export interface NodeDeployResult {
  id: string;
  release: string | null;
  lb: 'ready' | 'maint';
  healthAttempts: number;
  /** What the cycle noticed (a load balancer that lost its state, a server left in MAINT). */
  notes?: string[];
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
  /** Nodes an operator had in MAINT before the deployment: they change release and stay out of rotation. */
  leaveInMaint?: string[];
  /** Blue-green rehearsal: the release starts against this rehearsal copy of the database. */
  rehearsal?: string;
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
  | { op: 'survey' }
  /** Render the release's configuration templates on the node with these facts (per-node ones are added there). */
  | { op: 'configure'; release: string; templates: string[]; facts: FleetFacts; secretServices: Record<string, string> }
  /** What the node runs now, as its agent says (the release of the running app), for a result that is read, not remembered. */
  | { op: 'observe' }
  /** observe, and whether the node is healthy on what it runs (gantry repair's look). */
  | { op: 'inspect' };

export interface GroupInput {
  /** The environment with only this group's nodes. */
  environment: Environment;
  op: GroupOp;
}

/** What the fleet knows, for configuration templates; no secret among it. */
export interface FleetFacts {
  environment: string;
  release: string;
  nodes: { id: string; address: string; server: string }[];
  /** The nodes that serve beside each other (blue-green: the target pool's); each node's peers are these minus itself. */
  serving: string[];
  /** Blue-green: the pool users reach now and the one the release goes to; null for a rolling deployment. */
  pool: { live: string; target: string } | null;
  services: Record<string, string>;
}

export interface NodeFact {
  id: string;
  /** configure: what was rendered and the facts' names. */
  config?: { rendered: string[]; facts: string[] };
  release?: string | null;
  kept?: boolean;
  /** survey: false when the agent did not answer in time (error says how). */
  reachable?: boolean;
  healthy?: boolean;
  error?: string;
  /** observe: the release `current` names, when it is not the one the app runs. */
  current?: string | null;
}
