// Unpacks a gzipped tarball into a folder, refusing the whole archive when any entry is unsafe:
// paths out of the folder, links out of it, link chains (a link to or through another link: a chain
// can leave the folder while each link alone looks harmless; node-tar refuses them too, mid-way),
// entries written through a link, devices and FIFOs, setuid/setgid bits, or more entries or bytes
// than the node allows. The archive is read once to check it, stopping at the first limit it passes, then
// unpacked. Its bytes were verified by digest first, so a refusal is final.
import { createReadStream } from 'node:fs';
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';

export class UnsafeArchiveError extends Error {
  override readonly name = 'UnsafeArchiveError';
}

/** The folder's filesystem has less room than the archive unpacks to. */
export class DiskFullError extends Error {
  override readonly name = 'DiskFullError';
  constructor(
    readonly dir: string,
    readonly freeBytes: number,
    readonly neededBytes: number,
  ) {
    super(`no room to unpack in ${dir}: ${formatBytes(freeBytes)} free, the release needs ${formatBytes(neededBytes)}; free space on that filesystem (older releases, logs) or lower keepReleases`);
  }
}

export interface ArchiveLimits {
  maxEntries: number;
  /** Sum of the entries' sizes once unpacked. */
  maxBytes: number;
}

export const defaultArchiveLimits: ArchiveLimits = { maxEntries: 200_000, maxBytes: 4 * 1024 ** 3 };

export interface ArchiveSurvey {
  problems: string[];
  entries: number;
  bytes: number;
}

const allowedTypes = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);

/** Reads the archive's headers (not its contents) and lists what is unsafe, each naming its entry. */
export async function surveyArchive(file: string, limits: ArchiveLimits = defaultArchiveLimits): Promise<ArchiveSurvey> {
  const problems: string[] = [];
  const links = new Map<string, string>(); // normalized symlink path → its link text
  const paths: Array<{ path: string; normal: string; type: string; linkpath?: string }> = [];
  let entries = 0;
  let bytes = 0;
  const stop = new AbortController();
  const parser = new tar.Parser({
    onReadEntry: (entry) => {
      entry.resume();
      if (stop.signal.aborted) return;
      entries += 1;
      bytes += entry.size ?? 0;
      const problem = ownProblem(entry.path, entry.type, entry.linkpath, entry.mode);
      if (problem) problems.push(`${entry.path}: ${problem}`);
      const normal = path.posix.normalize(entry.path).replace(/\/$/, '');
      if (entry.type === 'SymbolicLink' && entry.linkpath !== undefined) links.set(normal, entry.linkpath);
      paths.push({ path: entry.path, normal, type: entry.type, ...(entry.linkpath !== undefined ? { linkpath: entry.linkpath } : {}) });
      if (entries > limits.maxEntries) {
        problems.push(`${entry.path}: the archive has more than ${limits.maxEntries} entries (the node's artifacts.maxEntries)`);
        stop.abort();
      } else if (bytes > limits.maxBytes) {
        problems.push(`${entry.path}: the archive unpacks to more than ${formatBytes(limits.maxBytes)} (the node's artifacts.maxUnpackedSize)`);
        stop.abort();
      }
    },
  });
  try {
    await pipeline(createReadStream(file), parser, { signal: stop.signal });
  } catch (err) {
    if (!stop.signal.aborted) throw new UnsafeArchiveError(`archive cannot be read: ${(err as Error).message}`);
  }
  // Second look, with every link known: nothing is written through a link, and every link, followed
  // through the others as the filesystem would, stays inside and ends.
  for (const entry of paths) {
    const through = linkPrefix(entry.normal, links);
    if (through) problems.push(`${entry.path}: is inside symbolic link ${through}, so it would be written wherever that link points`);
    if (entry.linkpath === undefined || ownProblem(entry.path, entry.type, entry.linkpath, undefined)) continue;
    // Walked as text, not path.join: normalizing "a/up/.." to "a" hides the link "a/up" a chain goes through.
    const target = entry.type === 'SymbolicLink' ? `${path.posix.dirname(entry.normal)}/${entry.linkpath}` : entry.linkpath;
    const link = linkOnTheWay(target, links);
    if (link !== undefined) problems.push(`${entry.path}: link to ${entry.linkpath} goes through symbolic link ${link} (link chains are refused: they can leave the folder while each link looks harmless)`);
  }
  return { problems, entries, bytes };
}

function ownProblem(entryPath: string, type: string, linkpath: string | undefined, mode: number | undefined): string | undefined {
  if (escapes(entryPath)) return 'path leaves the release folder';
  if (!allowedTypes.has(type)) return `${type} entries are not allowed (only files, folders and links)`;
  if (type === 'SymbolicLink' && linkpath !== undefined) {
    if (path.posix.isAbsolute(linkpath)) return `symbolic link to absolute path ${linkpath}`;
    if (escapes(path.posix.join(path.posix.dirname(entryPath), linkpath))) return `symbolic link to ${linkpath} leaves the release folder`;
  }
  if (type === 'Link' && linkpath !== undefined && escapes(linkpath)) return `hard link to ${linkpath} leaves the release folder`;
  if (mode !== undefined && (mode & 0o6000) !== 0) return `has the ${mode & 0o4000 ? 'setuid' : 'setgid'} bit (mode ${(mode & 0o7777).toString(8)})`;
  return undefined;
}

/** The first symbolic link of the archive that `target` (relative to the release folder) passes through or names. */
function linkOnTheWay(target: string, links: ReadonlyMap<string, string>): string | undefined {
  const out: string[] = [];
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
    const here = out.join('/');
    if (links.has(here)) return here;
  }
  return undefined;
}

/** The first proper prefix of `normal` that is a symbolic link in the archive. */
function linkPrefix(normal: string, links: ReadonlyMap<string, string>): string | undefined {
  const parts = normal.split('/');
  for (let i = 1; i < parts.length; i++) {
    const prefix = parts.slice(0, i).join('/');
    if (links.has(prefix)) return prefix;
  }
  return undefined;
}

function escapes(entryPath: string): boolean {
  if (path.posix.isAbsolute(entryPath) || /^[A-Za-z]:/.test(entryPath)) return true;
  const normal = path.posix.normalize(entryPath);
  return normal === '..' || normal.startsWith('../');
}

export async function extractSafely(file: string, dir: string, limits: ArchiveLimits = defaultArchiveLimits): Promise<ArchiveSurvey> {
  const survey = await surveyArchive(file, limits);
  const { problems } = survey;
  if (problems.length > 0) {
    throw new UnsafeArchiveError(`archive refused, ${problems.length} unsafe entr${problems.length === 1 ? 'y' : 'ies'}: ${problems.slice(0, 5).join('; ')}`);
  }
  const room = await statfs(dir);
  const free = room.bavail * room.bsize;
  if (free < survey.bytes) throw new DiskFullError(dir, free, survey.bytes);
  let current = '';
  try {
    // strict: any warning (e.g. a corrupt entry) fails the extraction instead of being skipped.
    await tar.x({
      file,
      cwd: dir,
      strict: true,
      preservePaths: false,
      preserveOwner: false,
      filter: (entryPath) => ((current = entryPath), true),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') {
      const after = await statfs(dir);
      throw new DiskFullError(dir, after.bavail * after.bsize, survey.bytes);
    }
    if (code === 'EIO' || code === 'EMFILE' || code === 'ENFILE') throw err;
    const entry = (err as { entry?: { path?: string } }).entry?.path ?? current;
    throw new UnsafeArchiveError(`archive refused at entry ${entry || '(first)'}: ${(err as Error).message}`);
  }
  return survey;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
