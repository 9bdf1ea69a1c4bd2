// The agent's stage activity refuses archives that would write outside the release folder.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentActivities } from '../activities/agent';
import { AppSupervisor } from '../lib/node/app-supervisor';
import { createLogger } from '../lib/core/logger';
import { nodeConfigSchema } from '../lib/config/node-config';
import { ReleaseStore } from '../lib/release/release-store';
import { caught } from './helpers/caught';

let dir: string;
let root: string;
let activities: ReturnType<typeof createAgentActivities>;

/** Builds a gzipped tarball from `entries` created under `src`, keeping paths exactly as given. */
async function tarball(name: string, src: string, entries: string[]): Promise<{ url: string; sha256: string }> {
  const file = path.join(dir, name);
  await tar.c({ file, gzip: true, cwd: src, preservePaths: true }, entries);
  return { url: `file://${file}`, sha256: createHash('sha256').update(await readFile(file)).digest('hex') };
}

const exists = (p: string) => stat(p).then(() => true, () => false);

async function stageFailure(release: string, artifact: { url: string; sha256: string }): Promise<ApplicationFailure> {
  const err = await caught(new MockActivityEnvironment().run((input) => activities.stage(input), { release, ...artifact }));
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('staging an unsafe archive', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-tar-'));
    root = path.join(dir, 'node');
    const store = new ReleaseStore(root);
    await store.init();
    const logger = createLogger('test', 'silent');
    const app = new AppSupervisor(root, { command: ['true'], env: {}, stopSignal: 'SIGTERM', stopGraceMs: 1000, startTimeoutMs: 1000, address: '127.0.0.1:1' }, logger);
    const config = nodeConfigSchema.parse({
      environment: 'test',
      node: 'web-1',
      root,
      app: { command: ['true'], address: '127.0.0.1:1' },
      artifacts: { allowedSources: [`file://${dir}/`] },
    });
    activities = createAgentActivities({ store, app, logger, config, commandEnv: {}, secretValues: [] });
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('refuses "../evil" and absolute-path entries, writing nothing anywhere', async () => {
    const src = path.join(dir, 'src', 'inner');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'ok.txt'), 'fine');
    await writeFile(path.join(dir, 'src', 'evil'), 'escaped');
    const absolute = path.join(dir, 'src', 'abs-evil');
    await writeFile(absolute, 'escaped too');
    const artifact = await tarball('evil.tgz', src, ['ok.txt', '../evil', absolute]);
    // Remove the sources so any extraction outside the folder would recreate them.
    await rm(path.join(dir, 'src', 'evil'));
    await rm(absolute);

    const failure = await stageFailure('v1', artifact);
    expect(failure.type).toBe('UnsafeArchive');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain('../evil: path leaves the release folder');
    expect(failure.message).toContain(`${absolute}: path leaves the release folder`);
    expect(await exists(path.join(dir, 'src', 'evil'))).toBe(false);
    expect(await exists(path.join(root, 'evil'))).toBe(false);
    expect(await exists(path.join(root, 'releases', 'evil'))).toBe(false);
    expect(await exists(absolute)).toBe(false);
    expect(await readdir(path.join(root, 'releases'))).toEqual([]);
  });

  it('refuses a symbolic link that points out of the release folder', async () => {
    const src = path.join(dir, 'links');
    await mkdir(src, { recursive: true });
    await symlink('../../../etc', path.join(src, 'escape'));
    const failure = await stageFailure('v2', await tarball('links.tgz', src, ['escape']));
    expect(failure.type).toBe('UnsafeArchive');
    expect(failure.message).toContain('symbolic link to ../../../etc leaves the release folder');
    expect(await readdir(path.join(root, 'releases'))).toEqual([]);
  });

  it('refuses an artifact whose sha256 does not match, before unpacking', async () => {
    const src = path.join(dir, 'good');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'server.js'), '');
    const artifact = await tarball('good.tgz', src, ['server.js']);
    const failure = await stageFailure('v3', { ...artifact, sha256: '0'.repeat(64) });
    expect(failure.type).toBe('DigestMismatch');
    expect(failure.message).toContain(`expected ${'0'.repeat(64)}`);
    expect(await readdir(path.join(root, 'releases'))).toEqual([]);

    // The same archive with its real digest stages, and staging it again is a no-op that says so.
    const env = new MockActivityEnvironment();
    expect(await env.run((input) => activities.stage(input), { release: 'v3', ...artifact })).toMatchObject({ staged: true });
    expect(await env.run((input) => activities.stage(input), { release: 'v3', ...artifact })).toMatchObject({ staged: false });
    expect(await readdir(path.join(root, 'releases', 'v3'))).toContain('server.js');
  });
});
