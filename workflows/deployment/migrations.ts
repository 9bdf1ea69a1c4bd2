// Migrations run once per deployment through one agent: backup → expand before any node runs new
// code → (the compatibility gate) → … → contract after every node is healthy. Exactly once: the
// migration tool's own ledger skips what is applied, a restarted agent ends a leftover run (its
// transaction rolls back), and the workflow records each phase so a replay never runs it again.
// The workflow names the phase; the commands are the runner node's own (its node config).
import { ApplicationFailure, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { AgentActivities } from '../../activities/agent';
import type { Environment, Migrations } from '../../lib/config/environment-schema';
import { failureTypes } from '../../lib/core/failure-types';
import { agentTaskQueue } from '../api';
import type { DeploymentState, WorkflowInput } from './state';
import { describeFailure } from '../common/failures';
import { control } from '../common/proxies';

/** What histories from before node configs carried: the commands themselves (replayed, never run again). */
interface LegacyMigrations {
  command: string[];
  phases: { expand: string[]; contract?: string[] };
  backup: { command?: string[] };
  downCommand?: string[];
  env: Record<string, string>;
}
interface LegacyAgent {
  runCommand(input: { argv: string[]; release: string; env: Record<string, string>; timeoutMs: number }): Promise<{ exitCode: number; durationMs: number }>;
  backupDatabase(input: { id: string; command?: string[]; timeoutMs: number }): Promise<{ file: string; bytes: number; durationMs: number; schema: string; copy?: string }>;
}
const legacyOf = (input: WorkflowInput) => (input.definitionSha256 ? undefined : (input.environment.migrations as unknown as LegacyMigrations));

function runnerOf(env: Environment): string {
  return env.migrations?.runner ?? env.nodes[0]!.id;
}

function migrationAgent(env: Environment, m: Migrations) {
  return proxyActivities<AgentActivities & LegacyAgent>({
    taskQueue: agentTaskQueue(env.name, runnerOf(env)),
    scheduleToStartTimeout: '5m',
    startToCloseTimeout: m.timeout + 60_000,
    // A dead agent is noticed quickly; the retry runs on the restarted agent, after it ended the leftover.
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', maximumAttempts: 3 },
  });
}

export async function backupAndExpand(input: WorkflowInput, state: DeploymentState): Promise<void> {
  const env = input.environment;
  const m = env.migrations!;
  const agent = migrationAgent(env, m);
  const runner = runnerOf(env);
  const started = Date.now();
  if (m.backup.enabled) {
    const info = workflowInfo();
    const legacy = legacyOf(input);
    const id = `${env.name}-${info.runId}`;
    const backup = legacy
      ? await agent.backupDatabase({ id, ...(legacy.backup.command ? { command: legacy.backup.command } : {}), timeoutMs: m.timeout })
      : await agent.backupDatabase({ id, timeoutMs: m.timeout });
    state.backedUp(
      { file: backup.file, bytes: backup.bytes, durationMs: backup.durationMs, schema: backup.schema, ...(backup.copy ? { copy: backup.copy } : {}) },
      `database backed up on ${runner} to ${backup.file} (${backup.bytes} bytes, ${backup.durationMs} ms${backup.copy ? `; copied to ${backup.copy}` : ''})`,
    );
  }
  state.expandStarting();
  const legacy = legacyOf(input);
  const { durationMs } = legacy
    ? await agent.runCommand({ argv: [...legacy.command, ...legacy.phases.expand], release: input.release, env: legacy.env, timeoutMs: m.timeout })
    : await agent.runMigration({ phase: 'expand', release: input.release, timeoutMs: m.timeout });
  state.expanded(durationMs, Date.now() - started, `expand migrations applied on ${runner} in ${durationMs} ms`);
}

/** The nodes still on the old release must stay healthy on the expanded schema. */
export async function compatibilityGate(env: Environment, state: DeploymentState): Promise<void> {
  const old = env.nodes.filter((n) => state.node(n.id).previousRelease !== null);
  const failures: string[] = [];
  await Promise.all(
    old.map(async (node) => {
      const release = state.node(node.id).previousRelease!;
      await control
        .waitHealthy({ address: node.address, check: env.healthCheck, release, deadlineMs: Math.min(env.healthCheck.deadline, 30_000) })
        .catch((err: unknown) => failures.push(`${node.id} on ${release}: ${describeFailure(err)}`));
    }),
  );
  if (failures.length > 0) {
    throw ApplicationFailure.nonRetryable(`the old release does not work on the expanded schema: ${failures.join('; ')}`, failureTypes.compatibilityCheckFailed);
  }
  state.record(`compatibility check passed: ${old.length} node(s) on the old release are healthy on the expanded schema`);
}

/** Blue-green's rehearsal on the runner of `env` (the target pool): a copy of the database, the expand against it, and dropping it. */
export function rehearsalSteps(env: Environment) {
  const m = env.migrations!;
  const agent = migrationAgent(env, m);
  return {
    runner: runnerOf(env),
    copy: (id: string) => agent.copyForRehearsal({ id, timeoutMs: m.timeout }),
    expand: (release: string, id: string) => agent.runMigration({ phase: 'expand', release, timeoutMs: m.timeout, rehearsal: id }),
    drop: (id: string) => agent.dropRehearsal({ id }),
  };
}

/** The contract phase on `env`'s runner, outside a deployment (blue-green runs it once the old pool stopped). */
export async function runContract(env: Environment, release: string): Promise<{ ran: boolean; durationMs: number; runner: string }> {
  const m = env.migrations!;
  const { ran, durationMs } = await migrationAgent(env, m).runMigration({ phase: 'contract', release, timeoutMs: m.timeout });
  return { ran, durationMs, runner: runnerOf(env) };
}

export async function contract(input: WorkflowInput, state: DeploymentState): Promise<void> {
  const env = input.environment;
  const m = env.migrations!;
  const legacy = legacyOf(input);
  if (legacy) {
    if (!legacy.phases.contract) return;
    state.enter('contract');
    const { durationMs } = await migrationAgent(env, m).runCommand({ argv: [...legacy.command, ...legacy.phases.contract], release: input.release, env: legacy.env, timeoutMs: m.timeout });
    state.contracted(`contract migrations applied on ${runnerOf(env)} in ${durationMs} ms`);
    return;
  }
  state.enter('contract');
  const { ran, durationMs } = await migrationAgent(env, m).runMigration({ phase: 'contract', release: input.release, timeoutMs: m.timeout });
  if (ran) state.contracted(`contract migrations applied on ${runnerOf(env)} in ${durationMs} ms`);
  else state.record(`no contract migrations: ${runnerOf(env)}'s node config defines none`);
}

/** Marks runs that refuse a restore once the new release has served (every run since). */
const RESTORE_ONLY_BEFORE_SERVING = 'restore-only-before-serving';

/**
 * Undoes the expand as the environment says: keep (it is backward compatible), restore the backup,
 * or run the down command. A failed compatibility check always restores (or runs down): the old
 * release just proved it cannot run on the new schema.
 */
export async function undoMigration(input: WorkflowInput, state: DeploymentState, incompatible: boolean, oldEnv: Environment = input.environment): Promise<void> {
  const env = input.environment;
  const m = env.migrations;
  if (!m || !state.migration.expandAttempted) return;
  const policy = incompatible && m.onRollback === 'keep' ? (state.migration.backup ? 'restore' : 'keep') : m.onRollback;
  const agent = migrationAgent(env, m);
  // Once a node served the new release, the database holds what it wrote since the backup: a restore would discard it.
  // Downtime mode is the exception: there the old release cannot run on the new schema, so it is restored.
  if (policy === 'restore' && m.mode !== 'downtime' && state.migration.backup && state.served.length > 0 && patched(RESTORE_ONLY_BEFORE_SERVING)) {
    state.migrationUndone(
      'kept',
      `not restoring ${state.migration.backup.file}: ${state.served.join(', ')} served ${input.release} on the expanded schema, and a restore would discard what was written since; the schema stays expanded (backward compatible). To undo the expand, set migrations.onRollback: down (the node's down migration)`,
    );
    return;
  }
  try {
    if (policy === 'restore' && state.migration.backup) {
      const { durationMs } = await agent.restoreDatabase({ file: state.migration.backup.file, schema: state.migration.backup.schema, timeoutMs: m.timeout });
      state.migrationUndone('restored', `database restored from ${state.migration.backup.file} and verified (${durationMs} ms)`);
      // The old release broke on the expanded schema; it must be healthy again before the deployment ends.
      if (incompatible) await compatibilityGate(oldEnv, state);
    } else if (policy === 'down') {
      const legacy = legacyOf(input);
      if (legacy?.downCommand) await agent.runCommand({ argv: legacy.downCommand, release: input.release, env: legacy.env, timeoutMs: m.timeout });
      else if (!legacy) await agent.runMigration({ phase: 'down', release: input.release, timeoutMs: m.timeout });
      state.migrationUndone('down', 'down migration applied');
    } else {
      state.migrationUndone('kept', 'schema kept: the expand migration is backward compatible');
    }
  } catch (err) {
    state.undoStepFailed(runnerOf(env), `migration undo (${policy}) failed: ${describeFailure(err)}`);
  }
}
