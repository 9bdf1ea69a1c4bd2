import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { InputError } from '../lib/core/errors';
import { runGantry } from './helpers/cli';
import { caught } from './helpers/caught';

let dir: string;
const valid = {
  name: 'prod',
  nodes: [
    { id: 'web-1', address: '10.0.0.1:8080', root: 'nodes/web-1' },
    { id: 'web-2', address: '10.0.0.2:8080', server: 'srv2', root: '/srv/shop' },
  ],
  app: { command: ['node', 'server.js'] },
  loadBalancer: { type: 'haproxy', socket: '/run/haproxy/admin.sock', backend: 'shop' },
  rollout: { batchSize: '50%' },
  healthCheck: { path: '/healthz', interval: '500ms', deadline: '2m' },
  source: { remote: 'repo.git' },
};

async function load(content: unknown) {
  const file = path.join(dir, `env-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, typeof content === 'string' ? content : stringify(content));
  return loadEnvironmentFile(file);
}

async function errorOf(content: unknown): Promise<string> {
  const err = await caught(load(content));
  expect(err).toBeInstanceOf(InputError);
  return (err as Error).message;
}

describe('environment file', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-env-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('loads a valid file with defaults, durations in ms and relative paths resolved', async () => {
    const env = await load(valid);
    expect(env.healthCheck).toMatchObject({ interval: 500, deadline: 120_000, successThreshold: 2, expectStatus: 200 });
    expect(env.app.stopGrace).toBe(10_000);
    expect(env.nodes[0]!.root).toBe(path.join(dir, 'nodes/web-1'));
    expect(env.nodes[1]!.root).toBe('/srv/shop');
    expect(env.source.remote).toBe(path.join(dir, 'repo.git'));
    expect(env.rollout.batchSize).toBe('50%');
  });

  it('loads the documented example', async () => {
    const env = await loadEnvironmentFile(path.join(import.meta.dirname, '../examples/environments/prod.yaml'));
    expect(env.nodes.map((n) => n.id)).toEqual(['web-1', 'web-2']);
    expect(env.approval).toMatchObject({ minApprovals: 2, timeout: 4 * 3_600_000 });
  });

  it.each([
    [{ ...valid, nodes: [{ ...valid.nodes[0], address: 'web-1' }] }, 'nodes[0].address: expected host:port'],
    [{ ...valid, rollout: { batchSize: '150%' } }, 'rollout.batchSize'],
    [{ ...valid, app: { command: 'node server.js' } }, 'app.command'],
    [{ ...valid, healthCheck: { interval: 'soon' } }, 'healthCheck.interval: expected a duration such as "500ms"'],
    [{ ...valid, nodes: [valid.nodes[0], { ...valid.nodes[0], address: '10.0.0.3:80' }] }, 'nodes[1].id: duplicate id "web-1"'],
    [{ ...valid, loadBalancer: { ...valid.loadBalancer, type: 'nginx' } }, 'loadBalancer.type'],
    [{ ...valid, colour: 'blue' }, 'colour'],
    [{ ...valid, migrations: { command: ['npm', 'run', 'migrate'], phases: { expand: ['up'] }, runner: 'db-1' } }, 'migrations.runner: no node has id "db-1"'],
    [{ ...valid, migrations: { command: ['m'], phases: { expand: ['up'] }, onRollback: 'down' } }, 'migrations.downCommand: required when onRollback is "down"'],
    ['name: [unclosed', 'not valid YAML'],
  ])('rejects a bad file naming the field (%#)', async (content, expected) => {
    expect(await errorOf(content)).toContain(expected);
  });

  it('the CLI exits 4 and names the bad field', async () => {
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, stringify({ ...valid, nodes: [{ ...valid.nodes[0], address: 'nowhere' }] }));
    const run = await runGantry(['deploy', file, 'v1', '--sha256', 'a'.repeat(64)]);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('nodes[0].address: expected host:port');
  });
});
