// Unpacks a gzipped tarball into a folder, refusing the whole archive when any entry would land
// outside it: absolute paths, ".." segments, or links that point out of the folder.
import path from 'node:path';
import * as tar from 'tar';

export class UnsafeArchiveError extends Error {
  override readonly name = 'UnsafeArchiveError';
}

export async function listUnsafeEntries(file: string): Promise<string[]> {
  const problems: string[] = [];
  await tar.t({
    file,
    onReadEntry: (entry) => {
      const problem = entryProblem(entry.path, entry.type, entry.linkpath);
      if (problem) problems.push(`${entry.path}: ${problem}`);
    },
  });
  return problems;
}

function entryProblem(entryPath: string, type: string, linkpath: string | undefined): string | undefined {
  if (escapes(entryPath)) return 'path leaves the release folder';
  if (type === 'SymbolicLink' && linkpath !== undefined) {
    if (path.posix.isAbsolute(linkpath)) return `symbolic link to absolute path ${linkpath}`;
    if (escapes(path.posix.join(path.posix.dirname(entryPath), linkpath))) return `symbolic link to ${linkpath} leaves the release folder`;
  }
  if (type === 'Link' && linkpath !== undefined && escapes(linkpath)) return `hard link to ${linkpath} leaves the release folder`;
  return undefined;
}

function escapes(entryPath: string): boolean {
  if (path.posix.isAbsolute(entryPath) || /^[A-Za-z]:/.test(entryPath)) return true;
  const normal = path.posix.normalize(entryPath);
  return normal === '..' || normal.startsWith('../');
}

export async function extractSafely(file: string, dir: string): Promise<void> {
  const problems = await listUnsafeEntries(file);
  if (problems.length > 0) {
    throw new UnsafeArchiveError(`archive refused, ${problems.length} unsafe entr${problems.length === 1 ? 'y' : 'ies'}: ${problems.slice(0, 5).join('; ')}`);
  }
  // strict: any warning (e.g. a corrupt entry) fails the extraction instead of being skipped.
  await tar.x({ file, cwd: dir, strict: true, preservePaths: false, preserveOwner: false });
}
