// A database of its own for a test file, on the run's PostgreSQL (global setup), with a client to it.
import pg from 'pg';
import { inject } from 'vitest';

export async function createDatabase(prefix: string): Promise<{ url: string; db: pg.Client }> {
  const admin = new pg.Client({ connectionString: inject('postgresUrl') });
  await admin.connect();
  const name = `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = inject('postgresUrl').replace(/\/postgres$/, `/${name}`);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  return { url, db };
}
