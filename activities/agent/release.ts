// The agent's release activities: what the node runs, staging a verified artifact, switching the
// release and stopping the app. Idempotent: asking for what is already there is a no-op that says so.
// A staged release is its id and its digest: the same id with other content is never reused.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { failureTypes } from '../../lib/core/failure-types';
import { AppStartError } from '../../lib/node/app-supervisor';
import { ArtifactError, downloadVerified } from '../../lib/release/artifact';
import { DiskFullError, extractSafely, formatBytes, UnsafeArchiveError } from '../../lib/release/safe-untar';
import { statfs } from 'node:fs/promises';
import { withHeartbeat } from '../heartbeat';
import { hostOf, isUnreachable, unreachable } from '../unreachable';
import { isAllowedSource } from '../../lib/config/node-config';
import { notAllowed, requireRelease, type AgentDeps, type Exclusive } from './common';
import { rehearsalDatabase, withDatabase } from '../../lib/node/database-copy';
import { isPostgresUrl } from '../../lib/node/postgres-tools';

export interface StageInput {
  release: string;
  url: string;
  sha256: string;
  /** How long a host that refuses connections or does not resolve is retried (the definition's artifact.unreachableTimeout). */
  unreachableTimeoutMs?: number;
}

/** The app's DATABASE_URL pointing at the rehearsal copy of `id` (same server, user and password). */
function rehearsalEnv(env: Record<string, string>, id: string, node: string): Record<string, string> {
  const url = env.DATABASE_URL;
  if (!isPostgresUrl(url)) throw ApplicationFailure.nonRetryable(`node ${node} cannot rehearse on a copy: its app's DATABASE_URL is not a postgres:// URL`, failureTypes.backupNotConfigured);
  try {
    return { DATABASE_URL: withDatabase(url, rehearsalDatabase(url, id)) };
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`node ${node}: ${(err as Error).message}`, failureTypes.invalidInput);
  }
}

export function createReleaseActivities({ store, app, logger, config, commandEnv }: AgentDeps, exclusive: Exclusive) {
  const node = config.node;
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

    async stage({ release, url, sha256, unreachableTimeoutMs }: StageInput): Promise<{ staged: boolean; removed: string[] }> {
      requireRelease(release);
      if (!isAllowedSource(url, config.artifacts.allowedSources)) {
        throw notAllowed(node, `to download ${url}: not under its artifacts.allowedSources (${config.artifacts.allowedSources.join(', ')})`);
      }
      return exclusive(async () => {
        if (await store.isStaged(release)) {
          const held = await store.stagedDigest(release);
          if (held === sha256) {
            logger.info({ release }, 'release already staged; nothing to do');
            return { staged: false, removed: [] };
          }
          // The same id with other bytes (an earlier, different artifact): never reuse it.
          if ((await store.current()) === release) {
            throw ApplicationFailure.nonRetryable(
              `node ${node} runs release ${release} with sha256 ${held ?? '(not recorded)'}, not ${sha256}; deploy another release first, or tag this one anew`,
              failureTypes.releaseConflict,
            );
          }
          logger.warn({ release, held, wanted: sha256 }, 'a release of this id with other content is staged; replacing it');
        }
        // One download file per release and digest, outside the attempt's scratch folder: a retry
        // resumes the bytes an earlier attempt fetched (its heartbeat says how many).
        const tarball = path.join(store.releasesDir, `.download-${release}-${sha256.slice(0, 16)}.tgz`);
        let bytes = 0;
        // When bytes last flowed, across attempts: the unreachable bound counts from there.
        let progressAt = (Context.current().info.heartbeatDetails as { progressAt?: number } | undefined)?.progressAt;
        await withHeartbeat(
          async (signal) => {
            await store.stage(release, async (scratch) => {
              try {
                const { resumedAt } = await downloadVerified(url, tarball, sha256, {
                  signal,
                  onBytes: (n) => {
                    bytes = n;
                    progressAt = Date.now();
                  },
                });
                if (resumedAt > 0) logger.info({ release, resumedAt }, 'download resumed where an earlier attempt stopped');
                await extractSafely(tarball, scratch, { maxEntries: config.artifacts.maxEntries, maxBytes: config.artifacts.maxUnpackedSize });
                await store.recordDigest(scratch, sha256);
              } catch (err) {
                if (err instanceof UnsafeArchiveError || (err instanceof ArtifactError && err.permanent)) await rm(tarball, { force: true });
                if (err instanceof ArtifactError && err.permanent) throw ApplicationFailure.nonRetryable(err.message, err.code);
                if (err instanceof UnsafeArchiveError) throw ApplicationFailure.nonRetryable(`node ${node}: ${err.message}`, failureTypes.unsafeArchive);
                if (err instanceof DiskFullError) throw ApplicationFailure.nonRetryable(`node ${node}: ${err.message}`, failureTypes.diskFull);
                if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
                  await rm(`${tarball}.partial`, { force: true });
                  const room = await statfs(store.releasesDir);
                  throw ApplicationFailure.nonRetryable(
                    `node ${node}: disk full in ${store.releasesDir} while downloading ${url} (${formatBytes(bytes)} fetched, ${formatBytes(room.bavail * room.bsize)} free); free space on that filesystem or lower keepReleases`,
                    failureTypes.diskFull,
                  );
                }
                if (isUnreachable(err)) unreachable(err, `node ${node}: artifact ${url}`, hostOf(url), unreachableTimeoutMs);
                throw err;
              }
            });
            await rm(tarball, { force: true });
          },
          () => ({ bytes, ...(progressAt !== undefined ? { progressAt } : {}) }),
        );
        const current = await store.current();
        const removed = await store.prune(config.keepReleases, [release, ...(current ? [current] : [])]);
        logger.info({ release, removed }, 'release staged');
        return { staged: true, removed };
      });
    },

    /** `rehearsal`: start it against that rehearsal copy of its database (blue-green); without it, against the database itself. */
    async activate({ release, rehearsal }: { release: string; rehearsal?: string }): Promise<{ changed: boolean; previous: string | null }> {
      requireRelease(release);
      const override = rehearsal === undefined ? undefined : { id: rehearsal, env: rehearsalEnv(commandEnv, rehearsal, node) };
      return exclusive(async () => {
        const previous = await store.current();
        if (previous === release && (await app.running()) === release && (await app.runningRehearsal()) === rehearsal) {
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
            await app.start(release, store.releaseDir(release), override);
          } catch (err) {
            if (err instanceof AppStartError) throw ApplicationFailure.nonRetryable(err.message, failureTypes.appStart);
            throw err;
          }
        });
        logger.info({ release, previous }, 'release activated');
        return { changed: true, previous };
      });
    },
  };
}
