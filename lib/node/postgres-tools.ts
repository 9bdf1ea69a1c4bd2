// pg_dump / pg_restore / psql through argument arrays, for backups before migrations and restores
// after a failed one, each bounded by the environment's migrations.timeout. The database URL comes from the agent's own environment; its password goes to
// the tools in PGPASSWORD, never in their argv (which any user of the node can read in ps).
import { createHash } from 'node:crypto';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { rename, rm, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
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

const DEFAULT_TIMEOUT_MS = 600_000;

async function tool(program: string, args: string[], timeoutMs = DEFAULT_TIMEOUT_MS, url?: string): Promise<string> {
  const connection = url ? connectionArgs(url) : undefined;
  const argv = connection ? [...args, '--dbname', connection.dbname] : args;
  try {
    // Only schema text comes back on stdout (dumps and restores write files or pipes): 64 MiB is plenty.
    return (await run(program, argv, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...inheritedEnv(), ...connection?.env } })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string; killed?: boolean };
    if (e.killed) throw new PostgresToolError(`${program} did not finish within ${Math.round(timeoutMs / 1000)} s (migrations.timeout)`);
    throw new PostgresToolError(`${program} failed: ${(e.stderr || e.message).trim().split('\n').slice(-5).join('\n')}`);
  }
}

/**
 * The schema as text — every schema, with owners and privileges, so a restore that lost a grant does
 * not verify — without what changes between dumps of the same schema (comments, \restrict keys).
 */
export async function schemaText(url: string): Promise<string> {
  return normalizeSchema(await tool('pg_dump', ['--schema-only'], undefined, url));
}

export async function schemaFingerprint(url: string): Promise<string> {
  return createHash('sha256').update(await schemaText(url)).digest('hex');
}

/** The fingerprint backups made before owners and privileges counted: a restore of one of those is checked against it. */
export async function legacySchemaFingerprint(url: string): Promise<string> {
  return createHash('sha256').update(normalizeSchema(await tool('pg_dump', ['--schema-only', '--no-owner', '--no-privileges'], undefined, url))).digest('hex');
}

function normalizeSchema(sql: string): string {
  return sql
    .split('\n')
    .filter((line) => !line.startsWith('--') && !/^\\(un)?restrict /.test(line) && line.trim() !== '')
    .join('\n');
}

/** pg_dump in custom format (owners and privileges kept) to `file`, written aside, then renamed: a crash leaves no half backup. */
export async function dumpDatabase(url: string, file: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<number> {
  const partial = `${file}.partial`;
  try {
    await tool('pg_dump', ['--format=custom', '--file', partial], timeoutMs, url);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  await rename(partial, file);
  return (await stat(file)).size;
}

/**
 * Drops every schema of the database's own (not the system's, not an extension's) and empties the
 * public schema, keeping it (its owner, comment and grants, which app roles depend on) and anything an
 * extension owns. Schemas a migration added go too: the database is put back as the backup has it.
 */
const EMPTY_DATABASE = `DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT n.nspname FROM pg_namespace n
           WHERE n.nspname NOT IN ('public', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e') LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
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
 * Puts the database back as the backup has it, in one transaction: every schema of its own is dropped
 * (public emptied) and refilled from the dump with owners and grants. pg_restore's SQL streams into
 * psql through a pipe, so a dump of any size needs no memory and no second copy on disk.
 */
export async function restoreDatabase(url: string, file: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  const connection = connectionArgs(url);
  const env = { ...inheritedEnv(), ...connection.env };
  // A dump that cannot be read must never reach psql as "no statements": that would commit an empty database.
  await stat(file).catch(() => {
    throw new PostgresToolError(`cannot restore ${file}: the file is not there`);
  });
  const restore = spawn('pg_restore', ['--file', '-', file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // The transaction is ours: BEGIN and the emptying first, the dump's SQL, and COMMIT only once pg_restore exited 0.
  const psql = spawn('psql', ['--no-psqlrc', '--quiet', '--set', 'ON_ERROR_STOP=1', '--file', '-', '--dbname', connection.dbname], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  const errors = { pg_restore: collectTail(restore.stderr), psql: collectTail(psql.stderr) };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    restore.kill('SIGKILL');
    psql.kill('SIGKILL');
  }, timeoutMs);
  try {
    psql.stdin.on('error', () => undefined); // a psql that stopped early (an error) is reported through its exit code
    const psqlExit = exitOf(psql);
    psql.stdin.write(`BEGIN;\n${EMPTY_DATABASE};\n`);
    // A psql that stops early closes the pipe: pg_restore's EPIPE is then not the story.
    const piped = pipeline(restore.stdout, psql.stdin, { end: false }).catch(() => undefined);
    const restoreCode = await exitOf(restore);
    await piped;
    if (restoreCode === 0 && !timedOut) psql.stdin.end('COMMIT;\n');
    else psql.kill('SIGKILL'); // no COMMIT: the server rolls the transaction back
    const psqlCode = await psqlExit;
    if (timedOut) throw new PostgresToolError(`restoring ${file} did not finish within ${Math.round(timeoutMs / 1000)} s (migrations.timeout); the transaction rolled back`);
    if (restoreCode !== 0) throw new PostgresToolError(`pg_restore failed reading ${file} (nothing was changed): ${errors.pg_restore().join('\n')}`);
    if (psqlCode !== 0) throw new PostgresToolError(`psql failed restoring ${file} (the transaction rolled back): ${errors.psql().join('\n')}`);
  } finally {
    clearTimeout(timer);
  }
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
}

/** The last few lines a stream printed. */
function collectTail(stream: Readable): () => string[] {
  const lines: string[] = [];
  createInterface({ input: stream }).on('line', (line) => {
    lines.push(line);
    if (lines.length > 5) lines.shift();
  });
  return () => lines;
}

/** A custom-format dump into an empty database (a rehearsal copy): every object, owners and grants as dumped; any error stops it. */
export async function restoreIntoEmpty(url: string, file: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
  await tool('pg_restore', ['--exit-on-error', file], timeoutMs, url);
}
