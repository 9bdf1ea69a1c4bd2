// The blue-green strategy's part of an environment definition: two pools of nodes, each an HAProxy
// backend; a map that names the live pool (and the idle one, for the shadow address); the smoke tests
// run through the shadow address before the switch; the watch after it; how long the old pool stays warm.
import { z } from 'zod';
import { duration, id } from './primitives';
import { strictObject } from './strict';

const mapKey = z.string().regex(/^[A-Za-z0-9._-]{1,63}$/, 'expected letters, digits, ".", "_" or "-" (a map key)');

export const smokeCheckSchema = strictObject({
  name: z.string().trim().min(1),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).default('GET'),
  path: z.string().startsWith('/', 'expected a path starting with "/"'),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a header name'), z.string()).default({}),
  body: z.string().optional(),
  expectStatus: z.number().int().min(100).max(599).default(200),
  /** The body must contain this text. */
  bodyContains: z.string().min(1).optional(),
  /** The JSON body's field (dotted path, e.g. "db.ok") must equal the value. */
  json: strictObject({ field: z.string().min(1), equals: z.union([z.string(), z.number(), z.boolean(), z.null()]) }).optional(),
  timeout: duration.default(5_000),
});

export const poolSchema = strictObject({
  /** Node ids of this pool (each a node of the environment, in no other pool). */
  nodes: z.array(id).min(1, 'expected at least one node'),
  /** The pool's HAProxy backend; its servers are the pool's nodes. */
  backend: z.string().min(1),
});

export const blueGreenSchema = strictObject({
  type: z.literal('blue-green'),
  pools: strictObject({ blue: poolSchema, green: poolSchema }),
  /**
   * The HAProxy map that routes to the pools: the frontend serving users looks up `key`, the shadow
   * frontend `shadowKey`; each entry's value is a backend. A switch sets both in one `commit map` and
   * rewrites the file, so a reload keeps the routing. The path is the file as HAProxy loaded it, on the orchestrator's disk.
   */
  map: strictObject({
    file: z.string().startsWith('/', 'expected an absolute path (the map file as HAProxy loads it)'),
    key: mapKey.default('live'),
    shadowKey: mapKey.default('shadow'),
  }),
  /** Where the idle pool answers before it takes traffic (the shadow frontend): smoke tests go here. */
  shadow: strictObject({
    url: z.url({ protocol: /^https?$/ }),
    /** copy: rehearse first — the idle pool runs and migrates against a copy of the database (same server), smoke-tested, before the live database changes. */
    database: z.enum(['live', 'copy']).default('live'),
  }),
  smoke: strictObject({
    checks: z.array(smokeCheckSchema).default([]),
    /** Run by the orchestrator worker with SHADOW_URL set; exit 0 passes. */
    command: z.array(z.string().min(1)).min(1).optional(),
    /** Bounds the command. */
    timeout: duration.default(120_000),
  }).default({ checks: [], timeout: 120_000 }),
  /** After the switch: the new pool's backend may answer at most this many 5xx and connection errors in `duration`, or traffic switches back. */
  watch: strictObject({
    duration: duration.default(120_000),
    max5xx: z.number().int().min(0).default(0),
    maxConnectionErrors: z.number().int().min(0).default(0),
    interval: duration.default(1_000),
  }).default({ duration: 120_000, max5xx: 0, maxConnectionErrors: 0, interval: 1_000 }),
  /** How long the old pool keeps running after the switch, for an instant `gantry switch-back`. */
  keepWarm: duration.default(1_800_000),
});

export type BlueGreen = z.output<typeof blueGreenSchema>;
export type SmokeCheck = z.output<typeof smokeCheckSchema>;
export type PoolName = 'blue' | 'green';

/** Every pool node is a node of the environment, in one pool only; every node is in a pool; the backends and keys differ. */
export function checkBlueGreen(env: { nodes: { id: string }[]; strategy?: BlueGreen | { type: 'rolling' }; migrations?: unknown }, ctx: z.RefinementCtx): void {
  const strategy = env.strategy;
  if (strategy?.type !== 'blue-green') return;
  const owner = new Map<string, string>();
  for (const pool of ['blue', 'green'] as const) {
    strategy.pools[pool].nodes.forEach((node, i) => {
      const path = ['strategy', 'pools', pool, 'nodes', i];
      if (!env.nodes.some((n) => n.id === node)) ctx.addIssue({ code: 'custom', path, message: `no node has id "${node}"` });
      const other = owner.get(node);
      if (other !== undefined) ctx.addIssue({ code: 'custom', path, message: `node ${node} is already in pool ${other}; a node belongs to one pool` });
      owner.set(node, pool);
    });
  }
  const loose = env.nodes.filter((n) => !owner.has(n.id)).map((n) => n.id);
  if (loose.length > 0) ctx.addIssue({ code: 'custom', path: ['strategy', 'pools'], message: `nodes ${loose.join(', ')} are in no pool; put each node in blue or green` });
  if (strategy.pools.blue.backend === strategy.pools.green.backend) {
    ctx.addIssue({ code: 'custom', path: ['strategy', 'pools', 'green', 'backend'], message: 'each pool needs its own backend' });
  }
  if (strategy.map.key === strategy.map.shadowKey) ctx.addIssue({ code: 'custom', path: ['strategy', 'map', 'shadowKey'], message: 'must differ from map.key' });
  const migrations = env.migrations as { mode?: string; runner?: string } | undefined;
  if (migrations?.mode === 'downtime') {
    ctx.addIssue({ code: 'custom', path: ['migrations', 'mode'], message: 'blue-green keeps the old pool serving while the schema expands: use mode "online" (expand/contract), or the rolling strategy for downtime migrations' });
  }
  if (strategy.shadow.database === 'copy' && migrations === undefined) {
    ctx.addIssue({ code: 'custom', path: ['strategy', 'shadow', 'database'], message: 'a rehearsal on a copy is of the migrations: add a migrations section, or use "live"' });
  }
  if (migrations?.runner !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['migrations', 'runner'], message: 'blue-green runs migrations on the first node of the pool the release goes to (it holds the new release); remove runner' });
  }
}
