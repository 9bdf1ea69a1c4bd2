// The production files hang together: docker-compose.yml's services, dependencies and health checks,
// the worker's environment against what the worker reads, and the CI example against the real CLI.
import { readFile } from 'node:fs/promises';
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
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

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
    for (const name of ['postgresql', 'temporal', 'gantry-worker']) expect(services[name]!.healthcheck, name).toBeDefined();
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
