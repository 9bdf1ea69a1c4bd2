// How a fleet is cut into batches and how many nodes change at once: plain arithmetic shared by the
// deployment workflow, its compensation and the benchmark's plain loop.
import type { Environment, NodeConfig } from '../config/environment-schema';

/** The server refuses more than 2,000 pending children per workflow; stay well below. */
const MAX_CONCURRENT_NODES = 1_000;

/**
 * Numbers that decide which commands a deployment's workflow issues. They travel in the workflow's
 * input (the client fills them in), so changing a default here never changes a running deployment's
 * commands on replay. SHAPE_V1 is what a request without them gets: never edit it; add a new default.
 */
export interface DeploymentShape {
  /** A batch of at most this many nodes runs in the deployment's own history; a bigger one is a child. */
  inlineBatch: number;
  /** Preflight probes and staging run in child workflows of this many nodes. */
  groupSize: number;
  /** At most this many of those groups run together. */
  groupsAtOnce: number;
}
export const SHAPE_V1: Readonly<DeploymentShape> = Object.freeze({ inlineBatch: 5, groupSize: 25, groupsAtOnce: 8 });
export const DEFAULT_SHAPE: Readonly<DeploymentShape> = SHAPE_V1;

/** Why a shape is unusable, or undefined. */
export function shapeProblem(shape: DeploymentShape): string | undefined {
  const bounds: [keyof DeploymentShape, number, number][] = [['inlineBatch', 1, 25], ['groupSize', 1, 100], ['groupsAtOnce', 1, 50]];
  for (const [key, min, max] of bounds) {
    const value = shape[key];
    if (!Number.isInteger(value) || value < min || value > max) return `shape.${key} must be a whole number from ${min} to ${max}, got ${String(value)}`;
  }
  return undefined;
}

/** A count, or a percentage of `total` rounded up (at least 1). */
export function sizeOf(value: number | string, total: number): number {
  return typeof value === 'number' ? value : Math.max(1, Math.ceil((total * parseInt(value, 10)) / 100));
}

/** `items` in consecutive slices of `size`. */
export function slices<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function batchesOf(env: Environment): NodeConfig[][] {
  return slices(env.nodes, sizeOf(env.rollout.batchSize, env.nodes.length));
}

/** How many of a batch's nodes may be out of rotation at once. */
export function concurrencyOf(env: Environment, batchLength: number): number {
  const limit = env.rollout.maxUnavailable === undefined ? batchLength : sizeOf(env.rollout.maxUnavailable, env.nodes.length);
  return Math.max(1, Math.min(batchLength, limit, MAX_CONCURRENT_NODES));
}
