import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { listDefinitions, loadEnvironmentFile, readDefinitionFile } from '../lib/config/environment-file';
import { loadNodeConfig } from '../lib/config/node-config';
import { InputError } from '../lib/core/errors';
import { runGantry } from './helpers/cli';
import { caught } from './helpers/caught';

let dir: string;
const valid = {
  name: 'prod',
  nodes: [
    { id: 'web-1', address: '10.0.0.1:8080' },
    { id: 'web-2', address: '10.0.0.2:8080', server: 'srv2' },
  ],
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

  it('reads a blue-green strategy with its defaults, and names each mistake in one', async () => {
    const pools = { blue: { nodes: ['web-1'], backend: 'shop_blue' }, green: { nodes: ['web-2'], backend: 'shop_green' } };
    const strategy = { type: 'blue-green', pools, map: { file: '/etc/haproxy/pools.map' }, shadow: { url: 'http://10.0.0.9:8081' }, smoke: { checks: [{ name: 'home', path: '/' }] } };
    const env = await load({ ...valid, strategy });
    expect(env.strategy).toEqual({
      ...strategy,
      map: { file: '/etc/haproxy/pools.map', key: 'live', shadowKey: 'shadow' },
      shadow: { url: 'http://10.0.0.9:8081', database: 'live' },
      smoke: { checks: [{ name: 'home', method: 'GET', path: '/', headers: {}, expectStatus: 200, timeout: 5_000 }], timeout: 120_000 },
      watch: { duration: 120_000, max5xx: 0, maxConnectionErrors: 0, interval: 1_000 },
      keepWarm: 1_800_000,
    });
    const message = await errorOf({
      ...valid,
      nodes: [...valid.nodes, { id: 'web-3', address: '10.0.0.3:8080' }],
      strategy: { ...strategy, pools: { blue: { nodes: ['web-1', 'web-9'], backend: 'shop' }, green: { nodes: ['web-1'], backend: 'shop' } }, keepWarn: '5m' },
      migrations: { runner: 'web-1', mode: 'downtime' },
    });
    expect(message).toContain('strategy.keepWarn: unknown key; did you mean keepWarm?');
    expect(message).toContain('strategy.pools.blue.nodes[1]: no node has id "web-9"');
    expect(message).toContain('strategy.pools.green.nodes[0]: node web-1 is already in pool blue; a node belongs to one pool');
    expect(message).toContain('strategy.pools: nodes web-2, web-3 are in no pool; put each node in blue or green');
    expect(message).toContain('strategy.pools.green.backend: each pool needs its own backend');
    expect(message).toContain('migrations.mode: blue-green keeps the old pool serving');
    expect(message).toContain('migrations.runner: blue-green runs migrations on the first node of the pool the release goes to');
    expect(await errorOf({ ...valid, strategy: { ...strategy, shadow: { url: 'http://10.0.0.9:8081', database: 'copy' } } })).toContain(
      'strategy.shadow.database: a rehearsal on a copy is of the migrations: add a migrations section, or use "live"',
    );
  });

  it('loads a valid file with defaults, durations in ms and relative paths resolved', async () => {
    const env = await load(valid);
    expect(env.healthCheck).toMatchObject({ interval: 500, deadline: 120_000, successThreshold: 2, expectStatus: 200 });
    expect(env.app.stopGrace).toBe(10_000);
    expect(env.source.remote).toBe(path.join(dir, 'repo.git'));
    expect(env.rollout.batchSize).toBe('50%');
  });

  it('loads the documented example', async () => {
    const env = await loadEnvironmentFile(path.join(import.meta.dirname, '../examples/environments/prod.yaml'));
    expect(env.nodes.map((n) => n.id)).toEqual(['web-1', 'web-2']);
    expect(env.approval).toMatchObject({ minApprovals: 2, timeout: 4 * 3_600_000 });
    const node = await loadNodeConfig(path.join(import.meta.dirname, '../examples/nodes/web-1.yaml'));
    expect(node).toMatchObject({ environment: 'prod', node: 'web-1', root: '/srv/shop', app: { stopGrace: 10_000 } });
  });

  it('refuses a misspelt key in a node config with the nearest valid key', async () => {
    const file = path.join(dir, 'node.yaml');
    await writeFile(file, stringify({ environment: 'prod', node: 'web-1', root: '/srv', app: { command: ['x'], address: '127.0.0.1:1' }, artifacts: { allowedSource: [] } }));
    const err = await caught(loadNodeConfig(file));
    expect((err as Error).message).toContain('artifacts.allowedSource: unknown key; did you mean allowedSources?');
  });

  it.each([
    [{ ...valid, nodes: [{ ...valid.nodes[0], address: 'web-1' }] }, 'nodes[0].address: expected host:port'],
    [{ ...valid, rollout: { batchSize: '150%' } }, 'rollout.batchSize'],
    [{ ...valid, app: { command: ['node', 'server.js'] } }, 'app.command: unknown key; valid keys: stopGrace, startTimeout'],
    [{ ...valid, loadBalancer: { ...valid.loadBalancer, drainTimout: '5s' } }, 'loadBalancer.drainTimout: unknown key; did you mean drainTimeout?'],
    [{ ...valid, healthCheck: { ...valid.healthCheck, sucessThreshold: 3 } }, 'healthCheck.sucessThreshold: unknown key; did you mean successThreshold?'],
    [{ ...valid, aproval: { approvers: ['a'] } }, 'aproval: unknown key; did you mean approval?'],
    [{ ...valid, nodes: [{ ...valid.nodes[0], root: '/srv/shop' }] }, 'nodes[0].root: unknown key'],
    [{ ...valid, ci: { provider: 'github', repository: 'a/b', apiUrl: 'http://ci.example.com' } }, 'ci.apiUrl: the token only goes over https'],
    [{ ...valid, source: { remote: 'r', artifactDigestInTag: true } }, 'source.artifactDigestInTag: only a signed tag can vouch for the artifact'],
    [{ ...valid, healthCheck: { interval: 'soon' } }, 'healthCheck.interval: expected a duration such as "500ms"'],
    [{ ...valid, nodes: [valid.nodes[0], { ...valid.nodes[0], address: '10.0.0.3:80' }] }, 'nodes[1].id: duplicate id "web-1"'],
    [{ ...valid, loadBalancer: { ...valid.loadBalancer, type: 'nginx' } }, 'loadBalancer.type'],
    [{ ...valid, colour: 'blue' }, 'colour'],
    [{ ...valid, migrations: { runner: 'db-1' } }, 'migrations.runner: no node has id "db-1"'],
    [{ ...valid, migrations: { command: ['npm', 'run', 'migrate'] } }, 'migrations.command: unknown key'],
    ['name: [unclosed', 'not valid YAML'],
  ])('rejects a bad file naming the field (%#)', async (content, expected) => {
    expect(await errorOf(content)).toContain(expected);
  });

  it('gantry check exits 4 naming the bad field and the nearest key, and 0 on a valid definition', async () => {
    const bad = path.join(dir, 'prod.yaml');
    await writeFile(bad, stringify({ ...valid, nodes: [{ ...valid.nodes[0], address: 'nowhere' }], loadBalancer: { ...valid.loadBalancer, drainTimout: '5s' } }));
    const run = await runGantry(['check', bad]);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('nodes[0].address: expected host:port');
    expect(run.stderr).toContain('loadBalancer.drainTimout: unknown key; did you mean drainTimeout?');
    const good = path.join(dir, 'good', 'prod.yaml');
    await mkdir(path.dirname(good), { recursive: true });
    await writeFile(good, stringify(valid));
    const ok = await runGantry(['check', good]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/environment prod: 2 nodes, sha256 [0-9a-f]{64}/);
  });

  it('refuses a definition whose allowed-signers file is not the one it pins', async () => {
    const signers = path.join(dir, 'allowed_signers');
    await writeFile(signers, 'bob namespaces="gantry@prod" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbB\n');
    const pinned = createHash('sha256').update(await readFile(signers)).digest('hex');
    const identity = { allowedSigners: signers, allowedSignersSha256: pinned };
    expect((await load({ ...valid, identity })).identity?.allowedSigners).toBe(signers);
    await writeFile(signers, 'mallory ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMmM\n', { flag: 'a' });
    const changed = createHash('sha256').update(await readFile(signers)).digest('hex');
    expect(await errorOf({ ...valid, identity })).toContain(`identity.allowedSignersSha256: ${signers} has sha256 ${changed}, not the pinned ${pinned}; review the change, then pin the new sha256`);
    expect(await errorOf({ ...valid, identity: { ...identity, allowedSigners: path.join(dir, 'missing') } })).toContain(`identity.allowedSigners: cannot read ${path.join(dir, 'missing')} (ENOENT)`);
  });

  it('the CLI takes an environment name, not a file', async () => {
    const run = await runGantry(['deploy', path.join(dir, 'prod.yaml'), 'v1', '--sha256', 'a'.repeat(64)]);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain('a file is not accepted: definitions live with the orchestrator');
  });
});

describe('extends: per-stage definitions without copies', () => {
  let stages: string;
  beforeAll(async () => {
    stages = await mkdtemp(path.join(os.tmpdir(), 'gantry-extends-'));
    const { name: _name, ...shared } = valid;
    await writeFile(path.join(stages, '_base.yaml'), stringify({ ...shared, rollout: { batchSize: 1, pauseBetweenBatches: '10s' }, approval: { approvers: ['bob'], timeout: '1h' } }));
    await writeFile(path.join(stages, '_prod-like.yaml'), stringify({ extends: '_base.yaml', rollout: { batchSize: '25%' } }));
  });
  afterAll(() => rm(stages, { recursive: true, force: true }));
  const stage = async (name: string, own: Record<string, unknown>) => {
    const file = path.join(stages, `${name}.yaml`);
    await writeFile(file, stringify({ name, ...own }));
    return readDefinitionFile(file);
  };

  it('merges objects key by key over its base chain; lists and values replace; null removes', async () => {
    const staging = await stage('staging', { extends: '_prod-like.yaml', approval: null, nodes: [{ id: 'stg-1', address: '10.0.1.1:8080' }] });
    expect(staging.environment.rollout).toMatchObject({ batchSize: '25%', pauseBetweenBatches: 10_000 });
    expect(staging.environment.nodes.map((n) => n.id)).toEqual(['stg-1']);
    expect(staging.environment.approval).toBeUndefined();
    expect(staging.environment.healthCheck.path).toBe('/healthz');
    const prod = await stage('prod', { extends: '_base.yaml' });
    expect(prod.environment.approval).toMatchObject({ approvers: ['bob'] });
    // The pinned sha256 covers the base too: a change there is a new definition.
    const before = prod.sha256;
    await writeFile(path.join(stages, '_base.yaml'), `${await readFile(path.join(stages, '_base.yaml'), 'utf8')}# reviewed\n`);
    expect((await readDefinitionFile(prod.file)).sha256).not.toBe(before);
  });

  it('names a missing base, a cycle and a path outside the folder; bases are not environments', async () => {
    expect(((await caught(stage('dev', { extends: '_gone.yaml' }))) as Error).message).toMatch(/dev\.yaml is invalid:\n {2}extends: cannot read .*_gone\.yaml \(ENOENT\)/);
    await writeFile(path.join(stages, '_a.yaml'), stringify({ extends: '_b.yaml' }));
    await writeFile(path.join(stages, '_b.yaml'), stringify({ extends: '_a.yaml' }));
    expect(((await caught(stage('dev', { extends: '_a.yaml' }))) as Error).message).toMatch(/extends: .*_a\.yaml → .*_b\.yaml → .*_a\.yaml is a cycle/);
    expect(((await caught(stage('dev', { extends: '../elsewhere.yaml' }))) as Error).message).toContain('extends: expected a file in the same folder');
    expect(((await caught(stage('dev', { extends: '_base.yaml', rollout: { batchSise: 2 } }))) as Error).message).toContain('(with _base.yaml) is invalid');
    expect((await listDefinitions(stages)).map((d) => d.name)).not.toContain('_base');
  });
});
