// Fetches an artifact (file:// or http(s)://) to a local file while hashing it; the file only
// keeps its final name once its sha256 matched, so nothing unverified is ever unpacked.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { failureTypes, type ArtifactFailureType } from '../core/failure-types';


export class ArtifactError extends Error {
  override readonly name = 'ArtifactError';
  constructor(
    message: string,
    /** Wrong digest, 404, malformed URL: retrying will not help. */
    readonly permanent: boolean,
    readonly code: ArtifactFailureType = failureTypes.artifactUnavailable,
    /** The network error underneath (its code says whether the host could be reached at all). */
    cause?: unknown,
  ) {
    super(message, { cause });
  }
}

import { isSha256 } from '../config/environment-schema';

export { isSha256 };

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Told the bytes on disk so far (a heartbeat's progress). */
  onBytes?: (total: number) => void;
}

/**
 * Downloads to `dest`, resuming a `.partial` file an earlier attempt left (an HTTP range request, or an
 * offset into a file:// source); the hash covers the bytes already there. A transient failure keeps
 * the partial file for the next attempt; a wrong digest removes it.
 */
export async function downloadVerified(url: string, dest: string, sha256: string, { signal, onBytes }: DownloadOptions = {}): Promise<{ resumedAt: number }> {
  if (!isSha256(sha256)) throw new ArtifactError(`sha256 must be 64 lowercase hex digits, got "${sha256}"`, true, failureTypes.invalidArtifactUrl);
  const partial = `${dest}.partial`;
  const have = await stat(partial).then((s) => s.size, () => 0);
  try {
    const source = await openSource(url, signal, have);
    // `from` is 0 when the server sent the whole artifact (no ranges): then the partial file is rewritten.
    const resumedAt = source.from;
    const hash = createHash('sha256');
    if (resumedAt > 0) for await (const chunk of createReadStream(partial) as AsyncIterable<Buffer>) hash.update(chunk);
    let total = resumedAt;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        total += chunk.length;
        onBytes?.(total);
        done(null, chunk);
      },
    });
    await pipeline(source.stream, hasher, createWriteStream(partial, { flags: resumedAt > 0 ? 'a' : 'w' }), { signal });
    const actual = hash.digest('hex');
    if (actual !== sha256) throw new ArtifactError(`artifact ${url} has sha256 ${actual}, expected ${sha256}`, true, failureTypes.digestMismatch);
    await rename(partial, dest);
    return { resumedAt };
  } catch (err) {
    if (err instanceof ArtifactError) {
      if (err.permanent) await rm(partial, { force: true });
      throw err;
    }
    // A full disk is the node's problem, not the source's: the caller reports the room there is.
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw err;
    throw new ArtifactError(`cannot fetch artifact ${url}: ${(err as Error).message}`, false, failureTypes.artifactUnavailable, err);
  }
}

/** Streams the artifact through a hash without keeping it: the orchestrator's check before rollout. */
export async function sha256Of(url: string, signal?: AbortSignal, onBytes?: (total: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let total = 0;
  try {
    const { stream } = await openSource(url, signal);
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      total += chunk.length;
      onBytes?.(total);
    }
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError(`cannot read artifact ${url}: ${(err as Error).message}`, false, failureTypes.artifactUnavailable, err);
  }
  return hash.digest('hex');
}

/**
 * Reads a checksum file published beside an artifact (`sha256sum` output: the digest, then optionally the
 * file name) and returns the digest. Small files only: anything past 4 KiB is not a checksum file.
 */
export async function readChecksumFile(url: string, signal?: AbortSignal): Promise<string> {
  let text = '';
  try {
    for await (const chunk of (await openSource(url, signal)).stream as AsyncIterable<Buffer>) {
      text += chunk.toString('utf8');
      if (text.length > 4096) throw new ArtifactError(`${url} is larger than 4 KiB: not a checksum file`, true);
    }
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError(`cannot read checksum file ${url}: ${(err as Error).message}`, false, failureTypes.artifactUnavailable, err);
  }
  const digest = text.trim().split(/\s+/)[0]?.toLowerCase() ?? '';
  if (!isSha256(digest)) throw new ArtifactError(`${url} does not start with a sha256 (64 hex digits); publish \`sha256sum <artifact>\` output there`, true);
  return digest;
}

/** The source from byte `from` on when it can seek (file://, or an HTTP server answering 206), else from 0. */
async function openSource(url: string, signal?: AbortSignal, from = 0): Promise<{ stream: Readable; from: number }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ArtifactError(`artifact URL "${url}" is not a URL (expected file://, http:// or https://)`, true, failureTypes.invalidArtifactUrl);
  }
  if (parsed.protocol === 'file:') {
    const stream = createReadStream(fileURLToPath(parsed), { start: from });
    // Surface "no such file" as a permanent error before the pipeline starts.
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', (err) => reject(new ArtifactError(`cannot read artifact ${url}: ${err.message}`, true)));
    });
    return { stream, from };
  }
  if (parsed.protocol === 'http:' || parsed.protocol === 'https:') {
    const response = await fetch(parsed, { signal, ...(from > 0 ? { headers: { range: `bytes=${from}-` } } : {}) });
    // 416: the partial file is not a prefix the server knows (the artifact changed): from the start.
    if (response.status === 416 && from > 0) {
      await response.body?.cancel();
      return openSource(url, signal, 0);
    }
    if (!response.ok || !response.body) {
      const permanent = response.status === 404 || response.status === 410 || response.status === 403 || response.status === 401;
      throw new ArtifactError(`artifact ${url} answered HTTP ${response.status}`, permanent);
    }
    return { stream: Readable.fromWeb(response.body), from: response.status === 206 ? from : 0 };
  }
  throw new ArtifactError(`artifact URL scheme ${parsed.protocol} is not supported (use file://, http:// or https://)`, true, failureTypes.invalidArtifactUrl);
}
