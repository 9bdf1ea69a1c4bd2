// Rendering configuration templates (lib/node/config-templates.ts) and the definition's config section.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../lib/config/environment-schema';
import { MissingFactError, renderTemplates, TemplateError } from '../lib/node/config-templates';
import { caught } from './helpers/caught';

let dir: string;
const facts = { release: 'v2', node: { id: 'web-1' }, peers: [{ address: '10.0.0.2:80' }, { address: '10.0.0.3:80' }], services: { memcached: 'memcached://m:11211' } };

describe('configuration templates', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-render-'));
    await mkdir(path.join(dir, 'config'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('renders each template beside itself, unescaped, with lists', async () => {
    await writeFile(path.join(dir, 'config/app.env.hbs'), 'PEERS={{#each peers}}{{address}}{{#unless @last}},{{/unless}}{{/each}}\nCACHE={{services.memcached}}&x=<1>\n');
    expect(await renderTemplates(dir, ['config/app.env.hbs'], facts)).toEqual(['config/app.env']);
    expect(await readFile(path.join(dir, 'config/app.env'), 'utf8')).toBe('PEERS=10.0.0.2:80,10.0.0.3:80\nCACHE=memcached://m:11211&x=<1>\n');
  });

  it('names the whole missing fact, and a template the release lacks', async () => {
    await writeFile(path.join(dir, 'config/bad.hbs'), 'ok={{release}}\n  queue={{services.redis.url}}\n');
    const err = await caught(renderTemplates(dir, ['config/bad.hbs'], facts));
    expect(err).toBeInstanceOf(MissingFactError);
    expect(err).toMatchObject({ fact: 'services.redis.url', template: 'config/bad.hbs' });
    expect((err as Error).message).toContain('(line 2) uses services.redis.url');
    expect(await caught(renderTemplates(dir, ['config/none.hbs'], facts))).toBeInstanceOf(TemplateError);
    // The agent refuses a path out of the release folder whatever the orchestrator sent.
    expect(((await caught(renderTemplates(dir, ['../outside.hbs'], facts))) as Error).message).toContain('is not a .hbs file inside the release folder');
  });

  it('takes template paths inside the release only, and secret services by variable name', () => {
    expect(configSchema.parse({ templates: ['config/app.json.hbs'], services: { db: { fromNodeEnv: 'DATABASE_URL' }, cache: 'memcached://m' } }).services).toEqual({ db: { fromNodeEnv: 'DATABASE_URL' }, cache: 'memcached://m' });
    for (const bad of ['../etc/passwd.hbs', '/abs/x.hbs', 'config/app.json', 'a/../../b.hbs']) expect(configSchema.safeParse({ templates: [bad] }).success, bad).toBe(false);
    expect(configSchema.safeParse({ services: { db: { fromEnv: 'X' } } }).success).toBe(false);
  });
});
