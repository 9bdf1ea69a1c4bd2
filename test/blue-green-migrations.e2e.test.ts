// Blue-green with migrations on a real PostgreSQL (issue 17): the expand runs on the first node of the
// pool the release goes to, before that pool starts, while the live pool keeps serving the old release
// on the expanded schema; the contract waits until the old pool stopped (a switch back needs the old schema).
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { startLoad } from '../devkit/local/load';
import { DATABASE_RELEASES } from '../devkit/local/sample-releases';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { statusQuery, warmWorkflowId, type WarmStatus } from '../workflows/api';
import { createDatabase } from './helpers/database';
import { startTestStack, type TestStack } from './helpers/stack';

const NODE_MIGRATIONS = {
  command: [process.execPath, 'node_modules/node-pg-migrate/bin/node-pg-migrate.js'],
  expand: ['up', '-m', 'migrations/expand', '-t', 'expand_migrations'],
  contract: ['up', '-m', 'migrations/contract', '-t', 'contract_migrations'],
};

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
    stack = await startTestStack({ blueGreen: true, nodeCount: 4, releases: DATABASE_RELEASES, agentEnv: { DATABASE_URL: url }, environment: { migrations: { timeout: '2m' } }, node: { migrations: NODE_MIGRATIONS } });
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
});
