// The agent's migration activities: a backup before expand, a verified restore, and the migration
// phases. The workflow names a phase; the command, its arguments and its environment are the node's
// own (node config), run from a staged release with the agent's environment (DATABASE_URL lives there).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { failureTypes } from '../../lib/core/failure-types';
import { BackupCopyError, copyBackup, pruneBackups, sha256File } from '../../lib/node/backup-copies';
import { copyDatabase, DatabaseCopyError, dropDatabase, rehearsalDatabase, withDatabase, type DatabaseCopy } from '../../lib/node/database-copy';
import { dumpDatabase, isPostgresUrl, PostgresToolError, legacySchemaFingerprint, restoreDatabase, schemaFingerprint } from '../../lib/node/postgres-tools';
import { runCommand, type CommandResult } from '../../lib/node/run-command';
import { withHeartbeat } from '../heartbeat';
import { notAllowed, redact, requireRelease, type AgentDeps, type Exclusive } from './common';

export interface BackupResult {
  file: string;
  bytes: number;
  durationMs: number;
  /** sha256 of the schema at backup time (owners and privileges included); a restore must reproduce it. */
  schema: string;
  reused: boolean;
  /** sha256 of the dump file. */
  sha256?: string;
  /** The verified copy in migrations.backups.copyTo, when the node sets one. */
  copy?: string;
  /** Older backups pruned to migrations.backups.keep. */
  pruned?: string[];
}

export type MigrationPhase = 'expand' | 'contract' | 'down';

export interface MigrationInput {
  phase: MigrationPhase;
  /** Runs from this staged release's folder. */
  release: string;
  timeoutMs: number;
  /** Against the rehearsal copy of this id (copyForRehearsal), not the database itself. */
  rehearsal?: string;
}

export function createDatabaseActivities({ store, logger, config, commandEnv, secretValues }: AgentDeps, exclusive: Exclusive) {
  const node = config.node;
  const hide = (text: string) => redact(text, secretValues);
  // Backup, migration and restore use one database: the migrations' own env (DATABASE_URL there) wins, as it does for the migration.
  const migrationEnv = { ...commandEnv, ...config.migrations?.env };
  const failed = (what: string, result: CommandResult, timeoutMs: number) => {
    const how = result.timedOut
      ? `did not finish within ${Math.round(timeoutMs / 1000)} s (migrations.timeout); it and everything it started were ended`
      : result.signal
        ? `was killed by ${result.signal}`
        : `exited with ${result.exitCode}`;
    const output = [...result.errors, ...(result.errors.length > 0 ? ['…'] : []), ...result.tail.slice(-10)].join('\n');
    return ApplicationFailure.nonRetryable(hide(`${what} ${how}:\n${output}`), failureTypes.commandFailed);
  };

  return {
    /** A backup named by `id` (one per deployment): asking again returns the one already made. */
    async backupDatabase({ id, timeoutMs }: { id: string; timeoutMs: number }): Promise<BackupResult> {
      return exclusive(async () => {
        const file = path.join(store.backupsDir, `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.dump`);
        const record = `${file}.json`;
        const existing = await readFile(record, 'utf8').catch(() => undefined);
        if (existing) {
          const made = JSON.parse(existing) as BackupResult;
          // An attempt that died between the record and the copy left no copy: make it now.
          const copyTo = config.migrations?.backups.copyTo;
          if (copyTo && !made.copy && made.sha256) {
            made.copy = await copyBackup(file, record, copyTo, made.sha256).catch((err: unknown) => {
              if (err instanceof BackupCopyError) throw ApplicationFailure.nonRetryable(`node ${node}: ${err.message}`, failureTypes.backupCopyFailed);
              throw err;
            });
            await writeFile(record, JSON.stringify(made), { mode: 0o600 });
          }
          return { ...made, reused: true };
        }
        const url = databaseUrl(migrationEnv, node);
        const command = config.migrations?.backup;
        const started = Date.now();
        // A dump is a full copy of the database: only the agent's user may read it.
        await mkdir(store.backupsDir, { recursive: true, mode: 0o700 });
        await chmod(store.backupsDir, 0o700);
        const schema = await guarded(() => schemaFingerprint(url), hide);
        const bytes = await withHeartbeat(async (signal) => {
          if (!command) return guarded(() => dumpDatabase(url, file, timeoutMs), hide);
          const result = await runCommand(command, { cwd: store.root, env: { ...migrationEnv, BACKUP_FILE: file }, timeoutMs, signal, pidFile: store.commandPidFile });
          if (result.exitCode !== 0) throw failed(`backup command ${command[0]}`, result, timeoutMs);
          return (await stat(file)).size;
        });
        await chmod(file, 0o600);
        const sha256 = await sha256File(file);
        const backup: BackupResult = { file, bytes, durationMs: Date.now() - started, schema, reused: false, sha256 };
        await writeFile(record, JSON.stringify(backup), { mode: 0o600 });
        const { keep, copyTo } = config.migrations?.backups ?? { keep: 5 };
        if (copyTo) {
          try {
            backup.copy = await copyBackup(file, record, copyTo, sha256);
          } catch (err) {
            if (err instanceof BackupCopyError) throw ApplicationFailure.nonRetryable(`node ${node}: ${err.message}`, failureTypes.backupCopyFailed);
            throw err;
          }
          await pruneBackups(copyTo, keep, file);
        }
        backup.pruned = await pruneBackups(store.backupsDir, keep, file);
        await writeFile(record, JSON.stringify(backup), { mode: 0o600 });
        logger.info({ file, bytes, durationMs: backup.durationMs, copy: backup.copy, pruned: backup.pruned }, 'database backed up');
        return backup;
      });
    },

    /**
     * Restores a backup made by backupDatabase (only a file in this node's backups folder; its copy in
     * migrations.backups.copyTo when the local one is gone) and checks the schema is the one it had.
     */
    async restoreDatabase({ file, schema, timeoutMs }: { file: string; schema: string; timeoutMs?: number }): Promise<{ verified: true; durationMs: number; from?: string }> {
      const resolved = path.resolve(file);
      if (path.dirname(resolved) !== store.backupsDir || !resolved.endsWith('.dump')) {
        throw notAllowed(node, `to restore ${file}: only backups this agent made in ${store.backupsDir} can be restored`);
      }
      return exclusive(async () => {
        const url = databaseUrl(migrationEnv, node);
        const started = Date.now();
        const copyTo = config.migrations?.backups.copyTo;
        const local = await stat(resolved).then(() => true, () => false);
        const from = local || !copyTo ? resolved : path.join(copyTo, path.basename(resolved));
        await withHeartbeat(() => guarded(() => restoreDatabase(url, from, timeoutMs), hide));
        const now = await guarded(() => schemaFingerprint(url), hide);
        // Backups from before owners and privileges counted carry the older fingerprint.
        if (now !== schema && (await guarded(() => legacySchemaFingerprint(url), hide)) !== schema) {
          throw ApplicationFailure.nonRetryable(`after restoring ${file} the schema differs from the backup's`, failureTypes.restoreNotVerified);
        }
        logger.info({ file: from }, 'database restored and verified');
        return { verified: true, durationMs: Date.now() - started, ...(from !== resolved ? { from } : {}) };
      });
    },

    /** The node's own command for `phase`; `ran: false` when the node defines no contract step. */
    /** A copy of the migrations' database on the same server, named by `id` (one per deployment); asking again returns the one made. */
    async copyForRehearsal({ id, timeoutMs }: { id: string; timeoutMs: number }): Promise<DatabaseCopy> {
      const url = databaseUrl(migrationEnv, node);
      return exclusive(() =>
        withHeartbeat(() =>
          copyDatabase(url, id, timeoutMs).catch((err: unknown) => {
            if (err instanceof DatabaseCopyError || err instanceof PostgresToolError) throw ApplicationFailure.nonRetryable(hide(`node ${node}: rehearsal copy: ${err.message}`), failureTypes.commandFailed);
            throw err;
          }),
        ),
      );
    },

    async dropRehearsal({ id }: { id: string }): Promise<{ dropped: boolean }> {
      return exclusive(() => dropDatabase(databaseUrl(migrationEnv, node), id));
    },

    async runMigration({ phase, release, timeoutMs, rehearsal }: MigrationInput): Promise<{ ran: boolean; durationMs: number }> {
      requireRelease(release);
      const m = config.migrations;
      if (!m) throw notAllowed(node, `to run ${phase} migrations: its node config has no migrations section`);
      const args = phase === 'expand' ? m.expand : phase === 'contract' ? m.contract : m.down;
      if (args === undefined) {
        if (phase === 'contract') return { ran: false, durationMs: 0 };
        throw notAllowed(node, `to run down migrations: its node config has no migrations.down`);
      }
      const argv = [...m.command, ...args];
      return exclusive(async () => {
        const log = logger.child({ command: argv[0], phase, release });
        const result = await withHeartbeat((signal) =>
          runCommand(argv, {
            cwd: store.releaseDir(release),
            env: { ...commandEnv, ...m.env, GANTRY_RELEASE: release, ...(rehearsal ? { DATABASE_URL: withDatabase(databaseUrl(migrationEnv, node), rehearsalDatabase(databaseUrl(migrationEnv, node), rehearsal)) } : {}) },
            timeoutMs,
            signal,
            onLine: (stream, line) => log.info({ stream }, hide(line)),
            pidFile: store.commandPidFile,
          }),
        );
        Context.current().cancellationSignal.throwIfAborted();
        if (result.exitCode !== 0) throw failed(`${phase} migrations (${argv.join(' ')})`, result, timeoutMs);
        return { ran: true, durationMs: result.durationMs };
      });
    },
  };
}

/** The database URL a backup or restore uses: the agent's, never one passed through a workflow. */
function databaseUrl(env: Record<string, string>, node: string): string {
  const url = env.DATABASE_URL;
  if (!isPostgresUrl(url)) {
    throw ApplicationFailure.nonRetryable(
      `DATABASE_URL on node ${node} is not a postgres:// URL; set it in the node config's secrets, or give migrations.backup there`,
      failureTypes.backupNotConfigured,
    );
  }
  return url;
}

/** A tool's failure with secrets removed from its message. */
async function guarded<T>(work: () => Promise<T>, hide: (text: string) => string): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof Error) err.message = hide(err.message);
    throw err;
  }
}
