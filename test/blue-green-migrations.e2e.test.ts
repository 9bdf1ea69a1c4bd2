// Blue-green with migrations on a real PostgreSQL (issue 17): the expand runs on the first node of the
// pool the release goes to, before that pool starts, while the live pool keeps serving the old release
// on the expanded schema; the contract waits until the old pool stopped (a switch back needs the old schema).
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { startLoad } from '../devkit/local/load';
import { DATABASE_RELEASES } from '../devkit/local/sample-releases';
import path from 'node:path';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { statusQuery, warmWorkflowId, type WarmStatus } from '../workflows/api';
import { createDatabase } from './helpers/database';
import { startTestStack, type TestStack } from './helpers/stack';

const NODE_MIGRATIONS = {
  command: [process.execPath, 'node_modules/node-pg-migrate/bin/node-pg-migrate.js'],
  expand: ['up', '-m', 'migrations/expand', '-t', 'expand_migrations'],
  contract: ['up', '-m', 'migrations/contract', '-t', 'contract_migrations'],
};

// v4 adds an expand (a `note` column) that the rehearsal runs on a copy before the live database.
const V3 = DATABASE_RELEASES[2] as { release: string; columns: string[]; migrations: string[] };
const V4 = { ...V3, release: 'v4', files: { 'migrations/expand/009_add_note.js': path.join(import.meta.dirname, 'fixtures/migrations/009_add_note.js') } };
let stack: TestStack;
let db: pg.Client;
let strategy: Record<string, unknown>;

const deploy = (release: string) => startDeployment(stack.client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'test', taskQueue: stack.taskQueue });
const columns = async () =>
  (await db.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY column_name")).rows.map((r) => r.column_name);
const expanded = async () => (await db.query<{ name: string }>('SELECT name FROM expand_migrations ORDER BY id')).rows.map((r) => r.name);

describe('blue-green with migrations', () => {
  beforeAll(async () => {
    let url: string;
    ({ url, db } = await createDatabase('bg'));
    stack = await startTestStack({ blueGreen: true, nodeCount: 4, releases: [...DATABASE_RELEASES, V4], agentEnv: { DATABASE_URL: url }, environment: { migrations: { timeout: '2m' } }, node: { migrations: NODE_MIGRATIONS } });
    strategy = { ...((await loadEnvironmentFile(stack.envFile)).strategy as Record<string, unknown>) };
    const first = await awaitOutcome(await deploy('v1'));
    expect(first.status, first.error).toBe('live');
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('expands on the target pool before it starts, keeps v1 serving on the expanded schema, and contracts only once the old pool stopped', async () => {
    await stack.define({ migrations: { timeout: '2m' }, strategy: { ...strategy, keepWarm: '4s' } });
    const load = startLoad(stack.haproxy.url, { clients: 2, pauseMs: 10, maxMs: 120_000 });
    const v2 = await deploy('v2');
    const outcome = await awaitOutcome(v2);
    expect(outcome.status, outcome.error).toBe('live');
    const events = (await v2.query(statusQuery)).events.map((e) => e.what);
    // v1 went to green first (blue was live and empty); v2 goes to blue, whose first node runs the migrations.
    expect(events.find((e) => e.startsWith('expand migrations applied'))).toMatch(/^expand migrations applied on web-1 in/);
    expect(events.findIndex((e) => e.startsWith('expand migrations applied'))).toBeLessThan(events.findIndex((e) => e.startsWith('batch 1: deploying v2')));
    expect(events).toContain('compatibility check passed: 2 node(s) on the old release are healthy on the expanded schema');
    expect(await expanded()).toEqual(['001_base', '002_add_description']);
    await stack.client.workflow.getHandle(warmWorkflowId(stack.name)).result();

    // v3 carries the contract (drops legacy_code, which v1 reads): not while v2's pool is warm.
    const v3 = await deploy('v3');
    const live = await awaitOutcome(v3);
    const report = await load.stop();
    expect(live.status, live.error).toBe('live');
    expect(report.errors + report.non200, report.failures.slice(0, 3).join('; ')).toBe(0);
    expect(await columns()).toContain('legacy_code');
    expect((await v3.query(statusQuery)).events.some((e) => /^the contract migration runs when blue stops at /.test(e.what))).toBe(true);
    const warm = (await stack.client.workflow.getHandle(warmWorkflowId(stack.name)).result()) as WarmStatus;
    expect(warm).toMatchObject({ state: 'stopped', warm: 'blue', contract: { ran: true, runner: 'web-3' } });
    expect(await columns()).not.toContain('legacy_code');
  });

  it('rehearses on a copy of the database: the copy is migrated and smoke-tested first, the live database only after that passed, and the copy is dropped', async () => {
    const copies = async () => (await db.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE '%\\_rh\\_%'")).rows.map((r) => r.datname);
    const rehearsing = { ...strategy, shadow: { ...(strategy.shadow as object), database: 'copy' } };
    // A smoke test that fails on the copy: the live database is never expanded.
    await stack.define({ migrations: { timeout: '2m' }, strategy: { ...rehearsing, smoke: { checks: [{ name: 'reports-v9', path: '/', json: { field: 'release', equals: 'v9' } }] } } });
    const refused = await awaitOutcome(await deploy('v4'));
    expect(refused.status).toBe('rolled-back');
    expect(refused.error).toContain('smoke test reports-v9 failed through');
    expect(refused.error).toContain('on the rehearsal copy');
    expect(refused.migration?.rehearsal).toMatchObject({ dropped: true, bytes: expect.any(Number) as number });
    expect(await expanded()).not.toContain('009_add_note');
    expect(await columns()).not.toContain('note');
    expect(await copies()).toEqual([]);

    await stack.define({ migrations: { timeout: '2m' }, strategy: rehearsing });
    const load = startLoad(stack.haproxy.url, { clients: 2, pauseMs: 10, maxMs: 120_000 });
    const handle = await deploy('v4');
    const outcome = await awaitOutcome(handle);
    const report = await load.stop();
    expect(outcome.status, outcome.error).toBe('live');
    expect(report.errors + report.non200, report.failures.slice(0, 3).join('; ')).toBe(0);
    const rehearsal = outcome.migration!.rehearsal!;
    // The live app holds the database open, so the copy comes through pg_dump | pg_restore.
    expect(rehearsal).toMatchObject({ method: 'dump', smokePassed: true, dropped: true });
    expect(rehearsal.bytes).toBeGreaterThan(1_000_000);
    const events = (await handle.query(statusQuery)).events.map((e) => e.what);
    const at = (pattern: RegExp) => events.findIndex((e) => pattern.test(e));
    expect(at(/^rehearsal: copied the database to \S+_rh_\w+ on web-1/)).toBeGreaterThan(-1);
    expect(at(/^rehearsal: copied/)).toBeLessThan(at(/^rehearsal: expand migrations applied to the copy/));
    expect(at(/^rehearsal: expand migrations applied to the copy/)).toBeLessThan(at(/^smoke test home: passed/));
    expect(at(/^smoke test home: passed/)).toBeLessThan(at(/^rehearsal passed/));
    expect(at(/^rehearsal passed/)).toBeLessThan(at(/^expand migrations applied on web-1/));
    expect(at(/^expand migrations applied on web-1/)).toBeLessThan(at(/^rehearsal copy \S+ dropped/));
    expect(await expanded()).toContain('009_add_note');
    expect(await columns()).toContain('note');
    expect(await copies()).toEqual([]);
    console.log(`rehearsal copy: ${rehearsal.bytes} bytes in ${rehearsal.copyMs} ms (${rehearsal.method}); expand on the copy ${rehearsal.expandMs} ms`);
  });
});
