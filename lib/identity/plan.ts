// The plan an approver signs for: which nodes change, in which batches, by which strategy, with which
// migration settings. Its hash goes into every signed statement, so an approval given for one plan
// counts for nothing once the definition changes what the deployment would do (a node added, batches cut differently).
import { createHash } from 'node:crypto';
import type { Environment } from '../config/environment-schema';
import { serverName } from '../config/environment-rules';
import { batchesOf } from '../rollout/batches';

export interface Plan {
  strategy: 'rolling' | 'downtime';
  nodes: { id: string; address: string; server: string }[];
  batches: string[][];
  migrations: { runner: string; mode: string; onRollback: string; backup: boolean } | null;
}

export function planOf(env: Environment): Plan {
  const m = env.migrations;
  return {
    strategy: m?.mode === 'downtime' ? 'downtime' : 'rolling',
    nodes: env.nodes.map((n) => ({ id: n.id, address: n.address, server: serverName(n) })),
    batches: batchesOf(env).map((batch) => batch.map((n) => n.id)),
    migrations: m ? { runner: m.runner ?? env.nodes[0]!.id, mode: m.mode, onRollback: m.onRollback, backup: m.backup.enabled } : null,
  };
}

/** sha256 of the plan's JSON (its keys are always built in the order above). */
export function planHashOf(env: Environment): string {
  return createHash('sha256').update(JSON.stringify(planOf(env))).digest('hex');
}

/** One line an approver reads before signing: "3 nodes in 3 batches, rolling, migrations online (runner web-1)". */
export function describePlan(plan: Plan): string {
  const migrations = plan.migrations ? `, migrations ${plan.migrations.mode} (runner ${plan.migrations.runner}, on rollback ${plan.migrations.onRollback})` : '';
  return `${plan.nodes.length} node(s) in ${plan.batches.length} batch(es), ${plan.strategy}${migrations}`;
}
