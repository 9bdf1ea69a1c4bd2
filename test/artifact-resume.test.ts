// A download cut off mid-way resumes where it stopped on the next attempt (an HTTP range request),
// and still ends with the artifact's digest checked over every byte; a server without ranges starts over.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactError, downloadVerified } from '../lib/release/artifact';
import { caught } from './helpers/caught';

const body = randomBytes(1 << 20);
const sha256 = createHash('sha256').update(body).digest('hex');
let server: Server;
let url: string;
let dir: string;
const ranges: (string | undefined)[] = [];
let cutAfter: number | undefined;
let rangesSupported = true;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-resume-'));
  server = createServer((req, res) => {
    ranges.push(req.headers.range);
    const from = rangesSupported && req.headers.range ? Number(/bytes=(\d+)-/.exec(req.headers.range)![1]) : 0;
    res.writeHead(from > 0 ? 206 : 200, { 'content-length': body.length - from, ...(from > 0 ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}) });
    if (cutAfter !== undefined) {
      // Half the bytes, then the connection drops.
      res.write(body.subarray(from, from + cutAfter), () => res.destroy());
      cutAfter = undefined;
      return;
    }
    res.end(body.subarray(from));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app.tgz`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('resumable downloads', () => {
  it('resumes a cut-off download with a range request and verifies the whole artifact', async () => {
    const dest = path.join(dir, 'a.tgz');
    cutAfter = 300_000;
    ranges.length = 0;
    const failure = await caught(downloadVerified(url, dest, sha256));
    expect(failure).toBeInstanceOf(ArtifactError);
    expect((failure as ArtifactError).permanent).toBe(false);
    const kept = (await stat(`${dest}.partial`)).size;
    expect(kept).toBeGreaterThan(0);
    let progress = 0;
    const { resumedAt } = await downloadVerified(url, dest, sha256, { onBytes: (n) => (progress = n) });
    expect(resumedAt).toBe(kept);
    expect(ranges).toEqual([undefined, `bytes=${kept}-`]);
    expect(progress).toBe(body.length);
    expect(createHash('sha256').update(await readFile(dest)).digest('hex')).toBe(sha256);
  });

  it('starts over when the server ignores the range, and refuses a wrong digest, dropping the partial file', async () => {
    const dest = path.join(dir, 'b.tgz');
    cutAfter = 200_000;
    rangesSupported = false;
    await caught(downloadVerified(url, dest, sha256));
    const { resumedAt } = await downloadVerified(url, dest, sha256);
    expect(resumedAt).toBe(0);
    expect(createHash('sha256').update(await readFile(dest)).digest('hex')).toBe(sha256);

    const wrong = path.join(dir, 'c.tgz');
    const refused = await caught(downloadVerified(url, wrong, 'f'.repeat(64)));
    expect(refused).toMatchObject({ permanent: true, code: 'DigestMismatch' });
    await expect(stat(`${wrong}.partial`)).rejects.toThrow(/ENOENT/);
  });
});
