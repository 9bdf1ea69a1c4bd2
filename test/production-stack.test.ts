// The production files hang together: docker-compose.yml's services, dependencies and health checks,
// the worker's environment against what the worker reads, and the CI example against the real CLI.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import { GANTRY_VARIABLES, TEMPORAL_VARIABLES } from '../lib/config/settings';
import { runGantry } from './helpers/cli';

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  restart?: string;
  ports?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const execFileAsync = promisify(execFile);
const compose = parse(await readFile('docker-compose.yml', 'utf8')) as Compose;
const { services } = compose;
const worker = services['gantry-worker']!;

/** Variables the example environment file names as secrets the worker reads when it uses them. */
async function secretsOfExampleEnvironment(): Promise<string[]> {
  const env = await loadEnvironmentFile('examples/environments/prod.yaml');
  const fromChannels = env.notifications.channels.flatMap((c) => [c.url.fromEnv, c.secret?.fromEnv]);
  return [...fromChannels, env.ci.provider === 'github' ? env.ci.tokenEnv : undefined].filter((v): v is string => Boolean(v));
}

describe('docker-compose.yml', () => {
  it('has the production services: PostgreSQL, a pinned Temporal server on it, the UI and the worker built here', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(['postgresql', 'temporal', 'temporal-ui', 'gantry-worker']));
    for (const [name, service] of Object.entries(services)) {
      if (service.image) expect(service.image, `${name}: pin the image`).toMatch(/:(?!latest$)[\w.-]+$/);
      else expect(service.build, `${name}: image or build`).toBe('.');
    }
    expect(services.temporal!.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
    expect(worker.command).toEqual(['worker']);
  });

  it('depends only on services it defines, waits on health checks that exist, and names declared volumes', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [target, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services, `${name} depends on ${target}`).toHaveProperty([target]);
        if (condition === 'service_healthy') expect(services[target]!.healthcheck, `${target} needs a healthcheck`).toBeDefined();
        else expect(condition).toBe('service_completed_successfully');
        if (condition === 'service_completed_successfully') expect(services[target]!.restart).toBe('no');
      }
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (!/^[./$~]/.test(source)) expect(compose.volumes, `${name}: volume ${source}`).toHaveProperty([source]);
      }
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (key === 'TEMPORAL_ADDRESS') {
          const [host, port] = value.split(':');
          expect(services, `${name}: TEMPORAL_ADDRESS names ${host}`).toHaveProperty([host!]);
          expect(port).toBe('7233');
        }
      }
    }
    // The long-running services all report health; the worker only starts once search attributes exist.
    for (const name of ['postgresql', 'temporal', 'gantry-codec', 'gantry-worker']) expect(services[name]!.healthcheck, name).toBeDefined();
    expect(worker.depends_on?.['gantry-setup']?.condition).toBe('service_completed_successfully');
    expect(services['gantry-setup']!.command).toEqual(['setup-namespace']);
  });

  it("gives the worker exactly what it reads: its settings, Temporal's connection and the secrets environment files name", async () => {
    const env = worker.environment ?? {};
    const secrets = await secretsOfExampleEnvironment();
    const known = new Set<string>([...Object.keys(GANTRY_VARIABLES), ...TEMPORAL_VARIABLES, ...secrets]);
    const unknown = Object.keys(env).filter((key) => !known.has(key));
    expect(unknown, 'variables the worker never reads').toEqual([]);
    for (const needed of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'GANTRY_TASK_QUEUE', 'GANTRY_METRICS_ADDRESS', ...secrets]) {
      expect(env, `gantry-worker needs ${needed}`).toHaveProperty([needed]);
    }
    // The health check asks the metrics endpoint the worker was told to serve.
    const metricsPort = env.GANTRY_METRICS_ADDRESS!.split(':')[1]!;
    expect(worker.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${metricsPort}/metrics`);
    // The mirrors live on the persistent cache volume.
    const cacheMount = (worker.volumes ?? []).find((v) => v.startsWith('gantry-cache:'))!.split(':')[1]!;
    expect(env.GANTRY_MIRRORS_DIR!.startsWith(cacheMount)).toBe(true);

    const dockerfile = await readFile('Dockerfile', 'utf8');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "--enable-source-maps", "dist\/gantry\.mjs"\]$/m);
    // The image itself (the last stage) holds production dependencies and the build, nothing else of the checkout.
    const image = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(image).toMatch(/^RUN npm ci --omit=dev/m);
    expect([...image.matchAll(/^COPY (.*)$/gm)].map((m) => m[1])).toEqual(['package.json package-lock.json ./', '--from=build /src/dist ./dist']);
    for (const [, name] of dockerfile.matchAll(/^\s*(?:ENV\s+)?([A-Z_]+)=\S+/gm)) {
      if (name !== 'NODE_ENV') expect(known.has(name!), `Dockerfile sets ${name}`).toBe(true);
    }
  });
});

describe('docker-compose.yml security', () => {
  // `source:/target[:ro]`, where the source may be `${VAR:-default}`.
  const mounted = (service: Service, file: string) => (service.volumes ?? []).some((v) => file.startsWith(`${/:(\/[^:]+)(?::ro|:rw)?$/.exec(v)?.[1] ?? '\0'}/`));

  it('runs Temporal with mutual TLS, and every client presents a certificate from the mounted folder', () => {
    const temporal = services.temporal!.environment!;
    expect(temporal.TEMPORAL_TLS_REQUIRE_CLIENT_AUTH).toBe('true');
    for (const key of ['TEMPORAL_TLS_SERVER_CERT', 'TEMPORAL_TLS_SERVER_KEY', 'TEMPORAL_TLS_FRONTEND_CERT', 'TEMPORAL_TLS_FRONTEND_KEY', 'TEMPORAL_TLS_CLIENT1_CA_CERT']) {
      expect(mounted(services.temporal!, temporal[key]!), `temporal: ${key}`).toBe(true);
    }
    for (const name of ['gantry-worker', 'gantry-setup']) {
      const env = services[name]!.environment!;
      for (const key of ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH']) expect(mounted(services[name]!, env[key] ?? ''), `${name}: ${key}`).toBe(true);
      expect(env.TEMPORAL_TLS_SERVER_NAME).toBe(temporal.TEMPORAL_TLS_FRONTEND_SERVER_NAME);
    }
    const ui = services['temporal-ui']!.environment!;
    for (const key of ['TEMPORAL_TLS_CA', 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY']) expect(mounted(services['temporal-ui']!, ui[key] ?? ''), `temporal-ui: ${key}`).toBe(true);
    expect(ui.TEMPORAL_TLS_ENABLE_HOST_VERIFICATION).toBe('true');
  });

  it('publishes every port on the loopback only', () => {
    for (const [name, service] of Object.entries(services)) for (const port of service.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
  });

  it("has the Web UI read-only and decrypting through the codec server beside it, which holds the worker's keys", () => {
    const ui = services['temporal-ui']!;
    const codec = services['gantry-codec']!;
    expect(ui.environment!.TEMPORAL_DISABLE_WRITE_ACTIONS).toBe('true');
    expect(codec.command?.[0]).toBe('codec-server');
    // The browser reaches the codec server where it is published, with the token as the first path segment.
    const endpoint = new URL(ui.environment!.TEMPORAL_CODEC_ENDPOINT!.replace(/\$\{GANTRY_CODEC_TOKEN[^}]*\}/, 'TOKEN'));
    expect(endpoint.pathname).toBe('/TOKEN');
    expect(codec.ports).toContain(`127.0.0.1:${endpoint.port}:${codec.command![codec.command!.indexOf('--listen') + 1]!.split(':')[1]}`);
    // …and answers only the UI's published origin.
    const uiPort = ui.ports![0]!.split(':')[1];
    expect(codec.command![codec.command!.indexOf('--origin') + 1]).toBe(`http://127.0.0.1:${uiPort}`);
    expect(codec.environment!.GANTRY_CODEC_TOKEN).toMatch(/^\$\{GANTRY_CODEC_TOKEN:\?/);
    expect(codec.environment!.GANTRY_CODEC_KEYS).toBe(worker.environment!.GANTRY_CODEC_KEYS);
    const known = new Set<string>([...Object.keys(GANTRY_VARIABLES), ...TEMPORAL_VARIABLES]);
    expect(Object.keys(codec.environment!).filter((k) => !known.has(k))).toEqual([]);
    expect(codec.healthcheck!.test.join(' ')).toContain(`127.0.0.1:${endpoint.port}/healthz`);
  });

  it('examples/tls/make-certs.sh issues the files compose names, chained to one CA, for the name clients check', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-tls-'));
    try {
      await execFileAsync('bash', ['examples/tls/make-certs.sh', dir], { timeout: 60_000 });
      const files = Object.values(services).flatMap((s) => Object.values(s.environment ?? {})).filter((v) => v.startsWith('/etc/gantry-tls/'));
      for (const file of new Set(files)) expect(existsSync(path.join(dir, path.basename(file))), file).toBe(true);
      const verified = await execFileAsync('openssl', ['verify', '-CAfile', path.join(dir, 'ca.pem'), path.join(dir, 'temporal.pem'), path.join(dir, 'client.pem')]);
      expect(verified.stdout).toMatch(/temporal\.pem: OK[\s\S]*client\.pem: OK/);
      const san = await execFileAsync('openssl', ['x509', '-in', path.join(dir, 'temporal.pem'), '-noout', '-ext', 'subjectAltName']);
      expect(san.stdout).toContain(`DNS:${services.temporal!.environment!.TEMPORAL_TLS_FRONTEND_SERVER_NAME}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('examples', () => {
  it('the GitHub Actions workflow deploys on tag push with options `gantry deploy` accepts', async () => {
    const workflow = parse(await readFile('examples/github-actions/deploy.yml', 'utf8')) as {
      on: { push: { tags: string[] } };
      jobs: Record<string, { steps: { name?: string; run?: string }[] }>;
    };
    expect(workflow.on.push.tags.length).toBeGreaterThan(0);
    const step = Object.values(workflow.jobs).flatMap((j) => j.steps).find((s) => s.run?.includes(' deploy '));
    const used = [...new Set(step!.run!.match(/--[a-z][a-z0-9-]*/g))];
    expect(used).toEqual(expect.arrayContaining(['--sha256', '--wait', '--json']));
    const help = await runGantry(['deploy', '--help']);
    for (const option of used) expect(help.stdout, option).toContain(option);
  });

  it('the systemd unit runs `gantry agent` for the instance node and leaves the app running when the agent stops', async () => {
    const unit = await readFile('examples/systemd/gantry-agent@.service', 'utf8');
    expect(unit).toMatch(/^ExecStart=\S*node \S*bin\/gantry\.mjs agent --config \S*%i\.yaml$/m);
    expect(unit).toMatch(/^KillMode=process$/m);
    expect(unit).toMatch(/^Restart=always$/m);
  });
});
