// Database migrations on a real PostgreSQL: once per deployment, expand before, contract after, a
// backup first, the compatibility gate, a killed agent mid-migration, and downtime mode.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome, type DeployOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import type { SampleReleaseSpec } from '../devkit/local/sample-releases';
import { schemaFingerprint } from '../lib/node/postgres-tools';
import { waitUntil } from '../lib/core/wait';
import { deploymentWorkflowId, statusQuery, type DeployStatus } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { createDatabase } from './helpers/database';
import { expectInvariant, servedReleases } from './helpers/invariant';
import { startLoad, windowOf } from '../devkit/local/load';
import { startTestStack, type TestStack } from './helpers/stack';

const fixture = (file: string) => path.join(import.meta.dirname, 'fixtures/migrations', file);
const BASE = ['expand/001_base.js', 'expand/002_add_description.js'];
const V2_COLUMNS = ['id', 'name', 'description'];
const slow = { 'migrations/expand/005_slow.js': fixture('005_slow.js') };
const RELEASES: SampleReleaseSpec[] = [
  { release: 'v1', columns: ['id', 'name', 'legacy_code'], migrations: ['expand/001_base.js'] },
  { release: 'v2', columns: V2_COLUMNS, migrations: BASE },
  { release: 'v2-fail', columns: V2_COLUMNS, migrations: BASE, files: { 'migrations/expand/004_broken.js': fixture('004_broken.js') } },
  { release: 'v2-slow', columns: V2_COLUMNS, migrations: BASE, files: slow },
  { release: 'v2-breaks', columns: ['id', 'name', 'details'], migrations: BASE, files: { ...slow, 'migrations/expand/006_rename_description.js': fixture('006_rename_description.js') } },
  { release: 'v3', columns: V2_COLUMNS, migrations: [...BASE, 'contract/003_drop_legacy_code.js'], files: slow },
  {
    release: 'v4',
    columns: ['id', 'title', 'description'],
    migrations: [...BASE, 'contract/003_drop_legacy_code.js'],
    files: { ...slow, 'migrations/expand/007_rename_name.js': fixture('007_rename_name.js') },
  },
  {
    release: 'v5',
    columns: ['id', 'title', 'description'],
    migrations: [...BASE, 'contract/003_drop_legacy_code.js'],
    files: { ...slow, 'migrations/expand/007_rename_name.js': fixture('007_rename_name.js'), 'migrations/contract/008_broken_contract.js': fixture('008_broken_contract.js') },
  },
];
/** The orchestrator's policy; the commands are each node's own (NODE_MIGRATIONS). */
const MIGRATIONS = { runner: 'web-1', timeout: '2m' };
const NODE_MIGRATIONS = {
  command: [process.execPath, 'node_modules/node-pg-migrate/bin/node-pg-migrate.js'],
  expand: ['up', '-m', 'migrations/expand', '-t', 'expand_migrations'],
  contract: ['up', '-m', 'migrations/contract', '-t', 'contract_migrations'],
};

let stack: TestStack;
let env: Environment;
let databaseUrl: string;
let db: pg.Client;

/** Deploys under the orchestrator's definition with `patch` merged in ({}: the stack's own). */
const deploy = async (patch: Record<string, unknown>, release: string) =>
  startDeployment(stack.client, await stack.define({ migrations: MIGRATIONS, ...patch }), release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'test', taskQueue: stack.taskQueue });
const ledger = async (table: string) => (await db.query<{ name: string; run_on: Date }>(`SELECT name, run_on FROM ${table} ORDER BY id`)).rows;
const columns = async () =>
  (await db.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY column_name")).rows.map((r) => r.column_name);
const everyNode = <T>(value: T) => Object.fromEntries(stack.nodeIds.map((id) => [id, value]));

describe('migrations', () => {
  beforeAll(async () => {
    ({ url: databaseUrl, db } = await createDatabase('shop'));
    stack = await startTestStack({ releases: RELEASES, agentEnv: { DATABASE_URL: databaseUrl }, environment: { migrations: MIGRATIONS }, node: { migrations: NODE_MIGRATIONS } });
    env = await loadEnvironmentFile(stack.envFile);
    const first = await awaitOutcome(await deploy({}, 'v1'));
    expect(first.status).toBe('live');
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('expands once before rollout while v1 keeps serving, with a backup first', async () => {
    const load = startLoad(stack.haproxy.url);
    const handle = await deploy({}, 'v2');
    const outcome = await awaitOutcome(handle);
    const report = await load.stop();
    expect(outcome.status).toBe('live');
    await expectInvariant(env, outcome.nodes!);
    expect(await ledger('expand_migrations')).toEqual([
      { name: '001_base', run_on: expect.any(Date) as Date },
      { name: '002_add_description', run_on: expect.any(Date) as Date },
    ]);
    expect(report.failures).toEqual([]);
    expect(report.sent).toBeGreaterThanOrEqual(300);
    const status = await handle.query(statusQuery);
    expect(status.migration?.backup?.file).toMatch(/backups\/.+\.dump$/);
    // A dump is a full copy of the database: owner-only, in an owner-only folder.
    expect((await stat(status.migration!.backup!.file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(status.migration!.backup!.file))).mode & 0o777).toBe(0o700);
    const events = status.events.map((e) => e.what);
    expect(events.findIndex((e) => e.startsWith('expand migrations applied'))).toBeLessThan(events.indexOf('web-1: deploying v2'));
    console.log(`migration overhead (backup ${status.migration?.backup?.durationMs} ms + expand ${status.migration?.expandMs} ms): ${status.migration?.overheadMs} ms; load ${report.sent} sent, ${report.failures.length} failed`);
  });

  it('stops before any node changes when a migration fails, with its output; `restore` puts the schema back', async () => {
    const restoring = { migrations: { ...MIGRATIONS, onRollback: 'restore' } };
    const before = await schemaFingerprint(databaseUrl);
    const handle = await deploy(restoring, 'v2-fail');
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.error).toMatch(/exited with 1/);
    expect(outcome.error).toContain('relation "no_such_table" does not exist');
    const status = await handle.query(statusQuery);
    expect(status.nodes.map((n) => n.state)).toEqual(['pending', 'pending', 'pending']);
    expect(status.migration).toMatchObject({ expandAttempted: true, undone: 'restored' });
    expect(await schemaFingerprint(databaseUrl)).toBe(before);
    expect(await servedReleases(env)).toEqual(everyNode('v2'));
    await expectInvariant(env, stack.nodeIds.map((id) => ({ id, release: 'v2' })));
  });

  it('applies a migration once when its agent is killed in the middle and restarted', async () => {
    const handle = await deploy({}, 'v2-slow');
    const running = await waitUntil(async () => (await handle.query(statusQuery)).events.some((e) => e.what.startsWith('database backed up')), 30_000, 50);
    expect(running).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // inside pg_sleep(6)
    await stack.restartAgent('web-1', 500);
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('live');
    expect((await ledger('expand_migrations')).map((r) => r.name)).toEqual(['001_base', '002_add_description', '005_slow']);
    expect(await columns()).toContain('slow_col');
    await expectInvariant(env, outcome.nodes!);
  });

  it('stops at the compatibility check when the expand breaks the running release, and undoes the migration', async () => {
    const before = await schemaFingerprint(databaseUrl);
    const handle = await deploy({}, 'v2-breaks');
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('rolled-back');
    expect(outcome.error).toMatch(/the old release does not work on the expanded schema: web-\d on v2-slow/);
    const status = await handle.query(statusQuery);
    expect(status.nodes.map((n) => n.state)).toEqual(['pending', 'pending', 'pending']);
    expect(status.migration?.undone).toBe('restored');
    expect(await schemaFingerprint(databaseUrl)).toBe(before);
    await expectInvariant(env, stack.nodeIds.map((id) => ({ id, release: 'v2-slow' })));
  });

  it('contracts only after every node is healthy on v3', async () => {
    const handle = await deploy({}, 'v3');
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('live');
    await expectInvariant(env, outcome.nodes!);
    const status: DeployStatus = await handle.query(statusQuery);
    const events = status.events;
    const lastLive = Math.max(...stack.nodeIds.map((id) => Date.parse(events.find((e) => e.what.startsWith(`${id}: live on v3`))!.time)));
    const contracted = await ledger('contract_migrations');
    expect(contracted.map((r) => r.name)).toEqual(['003_drop_legacy_code']);
    expect(contracted[0]!.run_on.getTime()).toBeGreaterThanOrEqual(lastLive);
    expect(await columns()).not.toContain('legacy_code');
    expect(status.migration?.contracted).toBe(true);
  });

  it('downtime mode: the maintenance page answers 503 with Retry-After, no connection errors, and the reported downtime matches', async () => {
    const downtime = { migrations: { ...MIGRATIONS, mode: 'downtime' } };
    const load = startLoad(stack.haproxy.url, { pauseMs: 5 });
    const handle = await deploy(downtime, 'v4');
    const outcome = await awaitOutcome(handle);
    const report = await load.stop();
    expect(outcome.status).toBe('live');
    await expectInvariant(env, outcome.nodes!);
    expect(report.errors).toBe(0);
    expect(report.nonOk.length).toBeGreaterThan(0);
    expect(report.nonOk.every((r) => r.status === 503 && r.retryAfter === '30')).toBe(true);
    // The request loop sees the window to within one sampling interval at each end; the reported
    // downtime must fall inside what it saw.
    const seen = windowOf(report, 503);
    const reported = (await handle.query(statusQuery)).migration!.downtimeMs!;
    console.log(
      `downtime reported ${reported} ms; the request loop saw ${seen.atLeast}–${seen.atMost} ms, sampling every ${seen.samplingMs} ms (${report.nonOk.length} answers of 503 in ${report.sent} requests)`,
    );
    expect(reported).toBeGreaterThanOrEqual(seen.atLeast - seen.samplingMs);
    expect(reported).toBeLessThanOrEqual(seen.atMost + seen.samplingMs);
  });

  it('a contract that fails after every node went live is reported, exits 6, and rolls nothing back; --json names the backup', async () => {
    await stack.define({ migrations: MIGRATIONS });
    const run = await runGantry(['deploy', stack.name, 'v5', '--sha256', stack.repo.releases.v5!.sha256, '--wait', '--json', '--requested-by', 'test'], stack.clientEnv);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(6);
    const outcome = JSON.parse(run.stdout) as DeployOutcome;
    expect(outcome.status).toBe('live');
    expect(outcome.migration?.contractFailed).toContain('no_such_table');
    expect(outcome.migration?.contracted).toBeUndefined();
    expect(outcome.migration?.backup?.file).toMatch(/backups\/.*\.dump$/);
    expect((await stat(outcome.migration!.backup!.file)).mode & 0o777).toBe(0o600);
    await expectInvariant(env, outcome.nodes!);
    expect(await servedReleases(env)).toEqual(everyNode('v5'));
    const status = await stack.client.workflow.getHandle(deploymentWorkflowId(stack.name), outcome.runId).query(statusQuery);
    expect(status.events.some((e) => e.what.startsWith('contract migrations failed:') && e.what.includes('nothing is rolled back'))).toBe(true);
    expect(status.events.some((e) => e.what === 'phase rolling-back')).toBe(false);
  });
});
