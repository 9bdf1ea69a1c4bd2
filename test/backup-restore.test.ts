// Backups and restores on a real PostgreSQL, through the agent's activities: a database whose plain
// dump is over 300 MB streams through pg_restore | psql (no buffer), a second schema, its owner and a
// grant survive, a schema a migration added is gone, the fingerprint sees a lost grant, backups are
// owner-only, copied off the runner with their digest checked, and pruned to the last N in both places.
import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schemaFingerprint } from '../lib/node/postgres-tools';
import { ReleaseStore } from '../lib/release/release-store';
import { agentOnDisk } from './helpers/agent';
import { caught } from './helpers/caught';
import { createDatabase } from './helpers/database';

let dir: string;
let url: string;
let db: pg.Client;
let activities: Awaited<ReturnType<typeof agentOnDisk>>['activities'];
let copyTo: string;
let store: ReleaseStore;
const ROWS = 1_000_000;
const role = `reader_${Math.random().toString(36).slice(2, 8)}`;

const run = <T>(work: () => Promise<T>): Promise<T> => new MockActivityEnvironment().run<[], T, () => Promise<T>>(work);
const grants = async () =>
  (
    await db.query<{ select: boolean; usage: boolean }>(
      `SELECT has_table_privilege('${role}', 'reports.daily', 'SELECT') AS select, has_schema_privilege('${role}', 'reports', 'USAGE') AS usage`,
    )
  ).rows[0];

describe('backup and restore', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-backup-'));
    ({ url, db } = await createDatabase('backup'));
    await db.query(`CREATE ROLE ${role}`);
    await db.query(`
      CREATE TABLE big (id integer PRIMARY KEY, payload text NOT NULL);
      INSERT INTO big SELECT i, repeat(md5(i::text), 10) FROM generate_series(1, ${ROWS}) AS i;
      CREATE SCHEMA reports;
      CREATE TABLE reports.daily (day date PRIMARY KEY, total bigint NOT NULL);
      INSERT INTO reports.daily VALUES ('2026-12-01', 42);
      GRANT USAGE ON SCHEMA reports TO ${role};
      GRANT SELECT ON reports.daily TO ${role};
    `);
    copyTo = path.join(dir, 'offsite');
    ({ store, activities } = await agentOnDisk({
      root: path.join(dir, 'node'),
      node: 'db-runner',
      sources: `file://${dir}/`,
      migrations: { command: ['true'], expand: ['up'], backups: { keep: 2, copyTo } },
      commandEnv: { DATABASE_URL: url },
    }));
    await mkdir(store.releaseDir('v1'), { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await db?.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    await db?.end();
    await rm(dir, { recursive: true, force: true });
  });

  it('restores a database of over 300 MB (plain) with its second schema, owner and grant, undoing what a migration added', async () => {
    const plain = Number((await db.query<{ bytes: string }>('SELECT sum(length(payload))::bigint AS bytes FROM big')).rows[0]!.bytes);
    expect(plain).toBeGreaterThan(300 * 1024 * 1024);
    const started = Date.now();
    const backup = await run(() => activities.backupDatabase({ id: 'big-1', timeoutMs: 600_000 }));
    const backupMs = Date.now() - started;
    expect((await stat(backup.file)).mode & 0o777).toBe(0o600);
    expect((await stat(store.backupsDir)).mode & 0o777).toBe(0o700);
    expect(backup.copy).toBe(path.join(copyTo, path.basename(backup.file)));
    expect((await stat(backup.copy!)).mode & 0o777).toBe(0o600);
    expect((await stat(copyTo)).mode & 0o777).toBe(0o700);

    // What a migration and some bad luck did since: a new schema, a lost grant, a dropped column, fewer rows.
    await db.query(`
      CREATE SCHEMA audit;
      CREATE TABLE audit.log (id serial PRIMARY KEY);
      REVOKE SELECT ON reports.daily FROM ${role};
      DELETE FROM big WHERE id > 10;
      ALTER TABLE reports.daily ADD COLUMN note text;
    `);
    expect(await schemaFingerprint(url)).not.toBe(backup.schema);

    const restoring = Date.now();
    const restored = await run(() => activities.restoreDatabase({ file: backup.file, schema: backup.schema, timeoutMs: 600_000 }));
    const restoreMs = Date.now() - restoring;
    expect(restored.verified).toBe(true);
    expect(Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM big')).rows[0]!.n)).toBe(ROWS);
    expect((await db.query('SELECT total FROM reports.daily')).rows).toEqual([{ total: '42' }]);
    expect(await grants()).toEqual({ select: true, usage: true });
    expect((await db.query("SELECT 1 FROM pg_namespace WHERE nspname = 'audit'")).rowCount).toBe(0);
    console.log(
      `backup/restore: ${(plain / 1024 ** 2).toFixed(0)} MiB of rows, dump ${(backup.bytes / 1024 ** 2).toFixed(1)} MiB in ${(backupMs / 1000).toFixed(1)} s (copy included); restore in ${(restoreMs / 1000).toFixed(1)} s`,
    );
  }, 600_000);

  it('the fingerprint sees a lost grant, so a restore that dropped one would not verify', async () => {
    const before = await schemaFingerprint(url);
    await db.query(`REVOKE USAGE ON SCHEMA reports FROM ${role}`);
    expect(await schemaFingerprint(url)).not.toBe(before);
    await db.query(`GRANT USAGE ON SCHEMA reports TO ${role}`);
    expect(await schemaFingerprint(url)).toBe(before);
  });

  it('restores from the copy when the runner lost its own, and keeps the last N backups in both places', async () => {
    await db.query('TRUNCATE big');
    const second = await run(() => activities.backupDatabase({ id: 'small-2', timeoutMs: 60_000 }));
    const third = await run(() => activities.backupDatabase({ id: 'small-3', timeoutMs: 60_000 }));
    expect(third.pruned).toEqual(['big-1.dump']);
    const dumps = async (folder: string) => (await readdir(folder)).filter((name) => name.endsWith('.dump')).sort();
    expect(await dumps(store.backupsDir)).toEqual(['small-2.dump', 'small-3.dump']);
    expect(await dumps(copyTo)).toEqual(['small-2.dump', 'small-3.dump']);

    await rm(second.file);
    await db.query('CREATE TABLE added_later (id int)');
    const restored = await run(() => activities.restoreDatabase({ file: second.file, schema: second.schema, timeoutMs: 60_000 }));
    expect(restored.from).toBe(path.join(copyTo, 'small-2.dump'));
    expect((await db.query("SELECT 1 FROM pg_class WHERE relname = 'added_later'")).rowCount).toBe(0);
  });

  it('a dump pg_restore cannot read changes nothing: the emptied schema is never committed', async () => {
    await db.query('CREATE TABLE IF NOT EXISTS kept (id int); INSERT INTO kept VALUES (1)');
    const broken = path.join(store.backupsDir, 'broken.dump');
    await writeFile(broken, 'PGDMP this is not a dump at all', { mode: 0o600 });
    const err = await caught(run(() => activities.restoreDatabase({ file: broken, schema: 'x'.repeat(64), timeoutMs: 60_000 })));
    expect(String(err)).toContain('pg_restore failed reading');
    expect((await db.query('SELECT id FROM kept')).rows).toEqual([{ id: 1 }]);
    expect((await db.query('SELECT total FROM reports.daily')).rows).toEqual([{ total: '42' }]);
  });
});
