// The agent's migration activities: a backup before expand, a verified restore, and the migration
// commands, run from a staged release with the agent's own environment (DATABASE_URL lives there).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { failureTypes } from '../../lib/core/failure-types';
import { dumpDatabase, isPostgresUrl, restoreDatabase, schemaFingerprint } from '../../lib/node/postgres-tools';
import { runCommand } from '../../lib/node/run-command';
import { withHeartbeat } from '../heartbeat';
import { requireRelease, type AgentDeps, type Exclusive } from './common';

export interface BackupResult {
  file: string;
  bytes: number;
  durationMs: number;
  /** sha256 of the schema at backup time; a restore must reproduce it. */
  schema: string;
  reused: boolean;
}

export interface RunCommandInput {
  argv: string[];
  /** Runs from this staged release's folder. */
  release: string;
  env: Record<string, string>;
  timeoutMs: number;
}

export function createDatabaseActivities({ store, logger, commandEnv }: AgentDeps, exclusive: Exclusive) {
  return {
    /** A backup named by `id` (one per deployment): asking again returns the one already made. */
    async backupDatabase({ id, command, timeoutMs }: { id: string; command?: string[]; timeoutMs: number }): Promise<BackupResult> {
      return exclusive(async () => {
        const file = path.join(store.backupsDir, `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.dump`);
        const record = `${file}.json`;
        const existing = await readFile(record, 'utf8').catch(() => undefined);
        if (existing) return { ...(JSON.parse(existing) as BackupResult), reused: true };
        const url = databaseUrl(commandEnv);
        const started = Date.now();
        await mkdir(store.backupsDir, { recursive: true });
        const schema = await schemaFingerprint(url);
        const bytes = await withHeartbeat(async (signal) => {
          if (!command) return dumpDatabase(url, file);
          const result = await runCommand(command, { cwd: store.root, env: { ...commandEnv, BACKUP_FILE: file }, timeoutMs, signal, pidFile: store.commandPidFile });
          if (result.exitCode !== 0) throw ApplicationFailure.nonRetryable(`backup command ${command.join(' ')} failed:\n${result.tail.join('\n')}`, failureTypes.commandFailed);
          return (await stat(file)).size;
        });
        const backup: BackupResult = { file, bytes, durationMs: Date.now() - started, schema, reused: false };
        await writeFile(record, JSON.stringify(backup));
        logger.info({ file, bytes, durationMs: backup.durationMs }, 'database backed up');
        return backup;
      });
    },

    /** Restores a backup made by backupDatabase and checks the schema is the one it had. */
    async restoreDatabase({ file, schema }: { file: string; schema: string }): Promise<{ verified: true; durationMs: number }> {
      return exclusive(async () => {
        const url = databaseUrl(commandEnv);
        const started = Date.now();
        await withHeartbeat(() => restoreDatabase(url, file));
        const now = await schemaFingerprint(url);
        if (now !== schema) {
          throw ApplicationFailure.nonRetryable(`after restoring ${file} the schema differs from the backup's`, failureTypes.restoreNotVerified);
        }
        logger.info({ file }, 'database restored and verified');
        return { verified: true, durationMs: Date.now() - started };
      });
    },

    async runCommand({ argv, release, env, timeoutMs }: RunCommandInput): Promise<{ exitCode: number; durationMs: number }> {
      requireRelease(release);
      return exclusive(async () => {
        const log = logger.child({ command: argv[0], release });
        const result = await withHeartbeat((signal) =>
          runCommand(argv, {
            cwd: store.releaseDir(release),
            env: { ...commandEnv, ...env, GANTRY_RELEASE: release },
            timeoutMs,
            signal,
            onLine: (stream, line) => log.info({ stream }, line),
            pidFile: store.commandPidFile,
          }),
        );
        Context.current().cancellationSignal.throwIfAborted();
        if (result.exitCode !== 0) {
          const how = result.signal ? `was killed by ${result.signal}` : `exited with ${result.exitCode}`;
          const output = [...result.errors, ...(result.errors.length > 0 ? ['…'] : []), ...result.tail.slice(-10)].join('\n');
          throw ApplicationFailure.nonRetryable(`${argv.join(' ')} ${how}:\n${output}`, failureTypes.commandFailed);
        }
        return { exitCode: 0, durationMs: result.durationMs };
      });
    },
  };
}

/** The database URL a backup or restore uses: the agent's, never one passed through a workflow. */
function databaseUrl(env: Record<string, string>): string {
  const url = env.DATABASE_URL;
  if (!isPostgresUrl(url)) {
    throw ApplicationFailure.nonRetryable(
      'DATABASE_URL on the runner node is not a postgres:// URL; set it in the agent\'s environment or give migrations.backup.command',
      failureTypes.backupNotConfigured,
    );
  }
  return url;
}
