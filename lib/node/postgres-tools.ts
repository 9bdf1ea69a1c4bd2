// pg_dump / pg_restore / psql through argument arrays, for backups before migrations and restores
// after a failed one. The database URL comes from the agent's own environment; its password goes to
// the tools in PGPASSWORD, never in their argv (which any user of the node can read in ps).
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { inheritedEnv } from './child-env';

const run = promisify(execFile);

export class PostgresToolError extends Error {
  override readonly name = 'PostgresToolError';
}

export const isPostgresUrl = (url: string | undefined): url is string => /^postgres(ql)?:\/\//.test(url ?? '');

/** `--dbname` without the password, and the password for the tools' environment. */
export function connectionArgs(url: string): { dbname: string; env: Record<string, string> } {
  const parsed = new URL(url);
  const password = decodeURIComponent(parsed.password);
  parsed.password = '';
  return { dbname: parsed.toString(), env: password ? { PGPASSWORD: password } : {} };
}

async function tool(program: string, args: string[], timeoutMs = 600_000, url?: string): Promise<string> {
  const connection = url ? connectionArgs(url) : undefined;
  const argv = connection ? [...args, '--dbname', connection.dbname] : args;
  try {
    return (await run(program, argv, { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, env: { ...inheritedEnv(), ...connection?.env } })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new PostgresToolError(`${program} failed: ${(e.stderr || e.message).trim().split('\n').slice(-5).join('\n')}`);
  }
}

/** The schema as text, without what changes between dumps of the same schema (comments, \restrict keys). */
export async function schemaText(url: string): Promise<string> {
  return normalizeSchema(await tool('pg_dump', ['--schema-only', '--no-owner', '--no-privileges'], undefined, url));
}

export async function schemaFingerprint(url: string): Promise<string> {
  return createHash('sha256').update(await schemaText(url)).digest('hex');
}

function normalizeSchema(sql: string): string {
  return sql
    .split('\n')
    .filter((line) => !line.startsWith('--') && !/^\\(un)?restrict /.test(line) && line.trim() !== '')
    .join('\n');
}

/** pg_dump in custom format to `file` (written aside, then renamed: a crash leaves no half backup). */
export async function dumpDatabase(url: string, file: string): Promise<number> {
  const partial = `${file}.partial`;
  await tool('pg_dump', ['--format=custom', '--no-owner', '--file', partial], undefined, url);
  await rename(partial, file);
  return (await stat(file)).size;
}

/**
 * Empties the public schema but keeps the schema itself (its owner, comment and grants, which app
 * roles depend on) and anything an extension owns.
 */
const EMPTY_PUBLIC_SCHEMA = `DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP %s IF EXISTS public.%I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                     WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP ROUTINE IF EXISTS %s CASCADE', r.signature);
  END LOOP;
  FOR r IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c', 'r')
             AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP TYPE IF EXISTS public.%I CASCADE', r.typname);
  END LOOP;
END $$`;

/**
 * Puts the database back as the backup has it, in one transaction: the public schema is emptied and
 * refilled from the dump, so objects a migration added are gone too.
 */
export async function restoreDatabase(url: string, file: string): Promise<void> {
  const script = `${file}.restore.sql`;
  await writeFile(script, await tool('pg_restore', ['--no-owner', '--no-privileges', '--file', '-', file]));
  try {
    await tool('psql', [
      '--no-psqlrc',
      '--quiet',
      '--single-transaction',
      '--set',
      'ON_ERROR_STOP=1',
      '--command',
      EMPTY_PUBLIC_SCHEMA,
      '--file',
      script,
    ], undefined, url);
  } finally {
    await rm(script, { force: true });
  }
}
