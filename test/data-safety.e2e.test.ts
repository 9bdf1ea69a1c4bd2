// Migrations that lose no data (issue 16): once a node has served the new release, the automatic
// rollback does not restore the pre-rollout backup (that would delete what was written since); it keeps
// the expanded schema and says why. Real PostgreSQL, node-pg-migrate, agents and HAProxy.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { waitUntil } from '../lib/core/wait';
import { statusQuery, type DeployStatus } from '../workflows/api';
import { expectInvariant, servedReleases } from './helpers/invariant';
import { createDatabase } from './helpers/database';
import { startTestStack, type TestStack } from './helpers/stack';

const MIGRATIONS = { runner: 'web-1', timeout: '2m', onRollback: 'restore' as const };
const NODE_MIGRATIONS = {
  command: [process.execPath, 'node_modules/node-pg-migrate/bin/node-pg-migrate.js'],
  expand: ['up', '-m', 'migrations/expand', '-t', 'expand_migrations'],
};

let stack: TestStack;
let env: Environment;
let db: pg.Client;

describe('no data lost by a rollback', () => {
  beforeAll(async () => {
    let databaseUrl: string;
    ({ url: databaseUrl, db } = await createDatabase('safe'));
    stack = await startTestStack({
      releases: [
        { release: 'v1', columns: ['id', 'name', 'legacy_code'], migrations: ['expand/001_base.js'] },
        // Expands the schema, serves on web-1, fails its health check on web-2.
        { release: 'v2', columns: ['id', 'name', 'description'], migrations: ['expand/001_base.js', 'expand/002_add_description.js'], unhealthyOn: ['web-2'] },
      ],
      agentEnv: { DATABASE_URL: databaseUrl },
      environment: { migrations: MIGRATIONS },
      node: { migrations: NODE_MIGRATIONS },
    });
    env = await loadEnvironmentFile(stack.envFile);
    const first = await awaitOutcome(await startDeployment(stack.client, stack.name, 'v1', { sha256: stack.repo.releases.v1!.sha256, requestedBy: 'test', taskQueue: stack.taskQueue }));
    expect(first.status).toBe('live');
  });
  afterAll(async () => {
    await db?.end();
    await stack?.close();
  });

  it('keeps rows written while the new release served, refusing the restore with the reason', async () => {
    const handle = await startDeployment(stack.client, stack.name, 'v2', { sha256: stack.repo.releases.v2!.sha256, requestedBy: 'test', taskQueue: stack.taskQueue });
    // While web-1 serves v2, a user's write lands.
    let status: DeployStatus | undefined;
    expect(await waitUntil(async () => (status = await handle.query(statusQuery)).nodes.some((n) => n.id === 'web-1' && n.state === 'live'), 60_000, 20)).toBe(true);
    await db.query("INSERT INTO items (name, description) VALUES ('written on v2', 'kept')");
    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('rolled-back');
    await expectInvariant(env, outcome.nodes!);
    expect(await servedReleases(env)).toEqual(Object.fromEntries(stack.nodeIds.map((id) => [id, 'v1'])));
    status = await handle.query(statusQuery);
    expect(status.migration).toMatchObject({ expanded: true, undone: 'kept' });
    expect(status.events.map((e) => e.what)).toContainEqual(expect.stringMatching(/^not restoring \S+\.dump: web-1 served v2 on the expanded schema, and a restore would discard what was written since; the schema stays expanded/));
    const rows = await db.query<{ name: string; description: string }>("SELECT name, description FROM items WHERE name = 'written on v2'");
    expect(rows.rows).toEqual([{ name: 'written on v2', description: 'kept' }]);
  });
});
