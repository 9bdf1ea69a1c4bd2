// A rehearsal copy of a node's database on the same PostgreSQL server, for a blue-green release to run
// and migrate against before the live database changes: `CREATE DATABASE … TEMPLATE` when no session
// holds the source open (instant, block-level), else pg_dump | pg_restore. Its name derives from the
// source's and an id the orchestrator gives, so an agent only ever creates or drops its own copies.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { dumpDatabase, restoreIntoEmpty } from './postgres-tools';

export class DatabaseCopyError extends Error {
  override readonly name = 'DatabaseCopyError';
}

export interface DatabaseCopy {
  database: string;
  bytes: number;
  durationMs: number;
  method: 'template' | 'dump';
  /** It existed already (an earlier attempt made it). */
  reused: boolean;
}

const REHEARSAL_ID = /^[a-z0-9]{1,16}$/;

/** The copy's name: the source database's, a marker and the id, within PostgreSQL's 63 bytes. */
export function rehearsalDatabase(sourceUrl: string, id: string): string {
  if (!REHEARSAL_ID.test(id)) throw new DatabaseCopyError(`rehearsal id "${id}": expected 1 to 16 lowercase letters or digits`);
  const source = databaseOf(sourceUrl);
  return `${source.slice(0, 63 - id.length - 4)}_rh_${id}`;
}

/** `url` pointing at another database of the same server, same user and password. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

function databaseOf(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new DatabaseCopyError('DATABASE_URL names no database');
  return name;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

async function onServer<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  // The maintenance database: a database cannot be the template while this very session holds it open.
  const client = new pg.Client({ connectionString: withDatabase(url, 'postgres'), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function copyDatabase(sourceUrl: string, id: string, timeoutMs: number): Promise<DatabaseCopy> {
  const source = databaseOf(sourceUrl);
  const target = rehearsalDatabase(sourceUrl, id);
  const started = Date.now();
  const size = (client: pg.Client) => client.query<{ bytes: string }>('SELECT pg_database_size($1) AS bytes', [target]).then((r) => Number(r.rows[0]!.bytes));
  const existing = await onServer(sourceUrl, async (client) => ((await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [target])).rowCount ? size(client) : undefined));
  if (existing !== undefined) return { database: target, bytes: existing, durationMs: 0, method: 'template', reused: true };
  const templated = await onServer(sourceUrl, async (client) => {
    try {
      await client.query(`CREATE DATABASE ${quote(target)} TEMPLATE ${quote(source)}`);
      return true;
    } catch (err) {
      // 55006: other sessions are using the source (the live app): copy through a dump instead.
      if ((err as { code?: string }).code === '55006') return false;
      throw new DatabaseCopyError(`CREATE DATABASE ${target} TEMPLATE ${source} failed: ${(err as Error).message}`);
    }
  });
  if (!templated) {
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'gantry-copy-'));
    try {
      const file = path.join(scratch, 'source.dump');
      await dumpDatabase(sourceUrl, file, timeoutMs);
      await onServer(sourceUrl, (client) => client.query(`CREATE DATABASE ${quote(target)}`));
      await restoreIntoEmpty(withDatabase(sourceUrl, target), file, timeoutMs).catch(async (err: unknown) => {
        await dropDatabase(sourceUrl, id).catch(() => undefined);
        throw err;
      });
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  const bytes = await onServer(sourceUrl, size);
  return { database: target, bytes, durationMs: Date.now() - started, method: templated ? 'template' : 'dump', reused: false };
}

/** Drops the copy (its sessions ended first); dropping one that is gone is a no-op. */
export async function dropDatabase(sourceUrl: string, id: string): Promise<{ dropped: boolean }> {
  const target = rehearsalDatabase(sourceUrl, id);
  return onServer(sourceUrl, async (client) => {
    const had = (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [target])).rowCount ?? 0;
    await client.query(`DROP DATABASE IF EXISTS ${quote(target)} WITH (FORCE)`);
    return { dropped: had > 0 };
  });
}
