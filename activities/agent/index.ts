// Node-side activities, run by the agent on each node. All are idempotent: asking for what is
// already there is a no-op that says so, so a retry after a crash is safe.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppStartError, type AppSupervisor } from '../../lib/node/app-supervisor';
import { ArtifactError, downloadVerified } from '../../lib/release/artifact';
import type { Logger } from '../../lib/core/logger';
import { dumpDatabase, isPostgresUrl, restoreDatabase, schemaFingerprint } from '../../lib/node/postgres-tools';
import { isValidReleaseId, type ReleaseStore } from '../../lib/release/release-store';
import { runCommand } from '../../lib/node/run-command';
import { extractSafely, UnsafeArchiveError } from '../../lib/release/safe-untar';
import { failureTypes } from '../../lib/core/failure-types';
import { withHeartbeat } from '../heartbeat';

export interface AgentDeps {
  store: ReleaseStore;
  app: AppSupervisor;
  logger: Logger;
  keepReleases: number;
  /** Environment for commands and backups: the agent's own (secrets such as DATABASE_URL live here) plus the app's. */
  commandEnv: Record<string, string>;
}

export interface BackupResult {
  file: string;
  bytes: number;
  durationMs: number;
  /** sha256 of the schema at backup time; a restore must reproduce it. */
  schema: string;
  reused: boolean;
}

export interface StageInput {
  release: string;
  url: string;
  sha256: string;
}

export interface RunCommandInput {
  argv: string[];
  /** Runs from this staged release's folder. */
  release: string;
  env: Record<string, string>;
  timeoutMs: number;
}

export function createAgentActivities({ store, app, logger, keepReleases, commandEnv }: AgentDeps) {
  // Stage, activate and commands change the node: one at a time, even if a retry overlaps an old attempt.
  const exclusive = createMutex();

  const requireRelease = (release: string) => {
    if (!isValidReleaseId(release)) {
      throw ApplicationFailure.nonRetryable(`release "${release}" is not a valid release id (letters, digits, ".", "_", "-")`, failureTypes.invalidInput);
    }
  };

  return {
    async currentRelease(): Promise<{ release: string | null; running: string | null }> {
      return { release: await store.current(), running: await app.running() };
    },

    async isStaged({ release }: { release: string }): Promise<boolean> {
      requireRelease(release);
      return store.isStaged(release);
    },

    /** Stops the app and removes `current`: the node serves nothing. */
    async deactivate(): Promise<{ changed: boolean }> {
      return exclusive(async () => {
        const had = (await store.current()) !== null || (await app.running()) !== null;
        await withHeartbeat(() => app.stop());
        await store.clearCurrent();
        if (had) logger.info('app stopped and current release cleared');
        return { changed: had };
      });
    },

    async stage({ release, url, sha256 }: StageInput): Promise<{ staged: boolean; removed: string[] }> {
      requireRelease(release);
      return exclusive(async () => {
        if (await store.isStaged(release)) {
          logger.info({ release }, 'release already staged; nothing to do');
          return { staged: false, removed: [] };
        }
        // One download file per release and digest, outside the attempt's scratch folder: a retry
        // resumes the bytes an earlier attempt fetched (its heartbeat says how many).
        const tarball = path.join(store.releasesDir, `.download-${release}-${sha256.slice(0, 16)}.tgz`);
        let bytes = 0;
        await withHeartbeat(
          async (signal) => {
            await store.stage(release, async (scratch) => {
              try {
                const { resumedAt } = await downloadVerified(url, tarball, sha256, { signal, onBytes: (n) => (bytes = n) });
                if (resumedAt > 0) logger.info({ release, resumedAt }, 'download resumed where an earlier attempt stopped');
                await extractSafely(tarball, scratch);
              } catch (err) {
                if (err instanceof UnsafeArchiveError || (err instanceof ArtifactError && err.permanent)) await rm(tarball, { force: true });
                if (err instanceof ArtifactError && err.permanent) throw ApplicationFailure.nonRetryable(err.message, err.code);
                if (err instanceof UnsafeArchiveError) throw ApplicationFailure.nonRetryable(err.message, failureTypes.unsafeArchive);
                throw err;
              }
            });
            await rm(tarball, { force: true });
          },
          () => ({ bytes }),
        );
        const current = await store.current();
        const removed = await store.prune(keepReleases, [release, ...(current ? [current] : [])]);
        logger.info({ release, removed }, 'release staged');
        return { staged: true, removed };
      });
    },

    async activate({ release }: { release: string }): Promise<{ changed: boolean; previous: string | null }> {
      requireRelease(release);
      return exclusive(async () => {
        const previous = await store.current();
        if (previous === release && (await app.running()) === release) {
          logger.info({ release }, 'release already active and running; nothing to do');
          return { changed: false, previous };
        }
        if (!(await store.isStaged(release))) {
          throw ApplicationFailure.nonRetryable(`release ${release} is not staged on this node; stage it first`, failureTypes.notStaged);
        }
        await withHeartbeat(async () => {
          await app.stop();
          await store.switchCurrent(release);
          try {
            await app.start(release, store.releaseDir(release));
          } catch (err) {
            if (err instanceof AppStartError) throw ApplicationFailure.nonRetryable(err.message, failureTypes.appStart);
            throw err;
          }
        });
        logger.info({ release, previous }, 'release activated');
        return { changed: true, previous };
      });
    },

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

export type AgentActivities = ReturnType<typeof createAgentActivities>;

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

function createMutex() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  };
}
