// The agent's stage activity refuses archives that would write outside the release folder.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { gzipSync } from 'node:zlib';
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

interface RawEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  linkpath?: string;
  mode?: number;
  body?: Buffer;
}

/** Writes tar headers by hand (tar.c will not pack devices or keep a setuid bit as given), gzipped. */
async function rawTarball(name: string, entries: RawEntry[]): Promise<{ url: string; sha256: string }> {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = entry.body ?? Buffer.alloc(0);
    const type = entry.type ?? 'File';
    const header = new tar.Header({ path: entry.path, type, mode: entry.mode ?? (type === 'Directory' ? 0o755 : 0o644), size: type === 'File' ? body.length : 0, linkpath: entry.linkpath ?? '', mtime: new Date(0), uid: 0, gid: 0 });
    header.encode();
    blocks.push(header.block!);
    if (type === 'File' && body.length > 0) blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  const file = path.join(dir, name);
  await writeFile(file, gzipSync(Buffer.concat(blocks)));
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
      artifacts: { allowedSources: [`file://${dir}/`], maxEntries: 50, maxUnpackedSize: '1MiB' },
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

  const hostile: Array<[string, RawEntry[], string]> = [
    [
      'a chain of links that leaves the folder though each link alone stays inside',
      [
        { path: 'a/', type: 'Directory' },
        { path: 'a/up', type: 'SymbolicLink', linkpath: '..' },
        { path: 'out', type: 'SymbolicLink', linkpath: 'a/up/..' },
      ],
      'out: link to a/up/.. goes through symbolic link a/up',
    ],
    ['a symbolic link loop', [{ path: 'x', type: 'SymbolicLink', linkpath: 'y' }, { path: 'y', type: 'SymbolicLink', linkpath: 'x' }], 'x: link to y goes through symbolic link y'],
    ['a hard link to a symbolic link', [{ path: 's', type: 'SymbolicLink', linkpath: 'f' }, { path: 'f', body: Buffer.from('x') }, { path: 'h', type: 'Link', linkpath: 's' }], 'h: link to s goes through symbolic link s'],
    ['a file written through a link', [{ path: 'dir', type: 'SymbolicLink', linkpath: 'real' }, { path: 'dir/file', body: Buffer.from('x') }], 'dir/file: is inside symbolic link dir'],
    ['a hard link out of the folder', [{ path: 'h', type: 'Link', linkpath: '../../etc/passwd' }], 'h: hard link to ../../etc/passwd leaves the release folder'],
    ['a character device', [{ path: 'null', type: 'CharacterDevice' }], 'null: CharacterDevice entries are not allowed'],
    ['a block device', [{ path: 'sda', type: 'BlockDevice' }], 'sda: BlockDevice entries are not allowed'],
    ['a FIFO', [{ path: 'pipe', type: 'FIFO' }], 'pipe: FIFO entries are not allowed'],
    ['a setuid program', [{ path: 'bin/tool', mode: 0o4755, body: Buffer.from('#!/bin/sh\n') }], 'bin/tool: has the setuid bit (mode 4755)'],
    ['a setgid program', [{ path: 'bin/tool', mode: 0o2755, body: Buffer.from('#!/bin/sh\n') }], 'bin/tool: has the setgid bit (mode 2755)'],
    ['more entries than the node allows', Array.from({ length: 60 }, (_, i) => ({ path: `f${i}`, body: Buffer.from('x') })), "f50: the archive has more than 50 entries (the node's artifacts.maxEntries)"],
    ['more bytes than the node allows', [{ path: 'big-1', body: Buffer.alloc(700 * 1024) }, { path: 'big-2', body: Buffer.alloc(700 * 1024) }], "big-2: the archive unpacks to more than 1.0 MiB (the node's artifacts.maxUnpackedSize)"],
  ];

  it.each(hostile)('refuses %s at once, naming the entry, and writes nothing', async (_what, entries, named) => {
    const artifact = await rawTarball(`hostile-${Math.random().toString(36).slice(2)}.tgz`, entries);
    const started = Date.now();
    const failure = await stageFailure('v9', artifact);
    expect(failure.type).toBe('UnsafeArchive');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(named);
    expect(failure.message).toContain('node web-1');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await readdir(path.join(root, 'releases'))).filter((name) => !['v3', 'v4'].includes(name))).toEqual([]);
  });

  it('refuses bytes that are not a tarball, although their digest matches', async () => {
    const file = path.join(dir, 'not-a-tarball.tgz');
    await writeFile(file, gzipSync(Buffer.from('this is not a tar archive, only some text that gzip wrapped\n'.repeat(40))));
    const failure = await stageFailure('v8', { url: `file://${file}`, sha256: createHash('sha256').update(await readFile(file)).digest('hex') });
    expect(failure.type).toBe('UnsafeArchive');
    expect(failure.nonRetryable).toBe(true);
  });

  it('reports a full disk with the room there is and the room the release needs', async (context) => {
    const small = path.join(dir, 'small-disk');
    await mkdir(small, { recursive: true });
    // A 1 MiB filesystem of its own (root only; skipped where mounting is not allowed).
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]).status !== 0) return context.skip();
    try {
      const store = new ReleaseStore(small);
      await store.init();
      const logger = createLogger('test', 'silent');
      const config = nodeConfigSchema.parse({
        environment: 'test',
        node: 'web-2',
        root: small,
        app: { command: ['true'], address: '127.0.0.1:1' },
        artifacts: { allowedSources: [`file://${dir}/`] },
      });
      const app = new AppSupervisor(small, { command: ['true'], env: {}, stopSignal: 'SIGTERM', stopGraceMs: 1000, startTimeoutMs: 1000, address: '127.0.0.1:1' }, logger);
      const onSmallDisk = createAgentActivities({ store, app, logger, config, commandEnv: {}, secretValues: [] });
      const artifact = await rawTarball('two-mib.tgz', [{ path: 'data.bin', body: Buffer.alloc(2 * 1024 * 1024) }]);
      const err = await caught(new MockActivityEnvironment().run((input) => onSmallDisk.stage(input), { release: 'v1', ...artifact }));
      expect(err).toBeInstanceOf(ApplicationFailure);
      const failure = err as ApplicationFailure;
      expect(failure.type).toBe('DiskFull');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toMatch(/node web-2: no room to unpack in .*: [\d.]+ KiB free, the release needs 2\.0 MiB/);
    } finally {
      spawnSync('umount', [small]);
    }
  });

  it('unpacks links that stay inside', async () => {
    const artifact = await rawTarball('inside-links.tgz', [
      { path: 'lib/', type: 'Directory' },
      { path: 'lib/real.js', body: Buffer.from('ok') },
      { path: 'entry', type: 'SymbolicLink', linkpath: 'lib/real.js' },
      { path: 'lib/up', type: 'SymbolicLink', linkpath: '../entry-dir' },
      { path: 'entry-dir/', type: 'Directory' },
      { path: 'same', type: 'Link', linkpath: 'lib/real.js' },
    ]);
    await new MockActivityEnvironment().run((input) => activities.stage(input), { release: 'v4', ...artifact });
    expect(await readFile(path.join(root, 'releases', 'v4', 'entry'), 'utf8')).toBe('ok');
    expect(await readFile(path.join(root, 'releases', 'v4', 'same'), 'utf8')).toBe('ok');
  });
});
