// Where backups live besides the runner: a copy in a folder the agent owns (a mount of other storage:
// NFS, a backup volume), checked by digest after copying, and pruning to the last N backups in both
// places. A dump is a full copy of the database, so every file and folder is owner-only.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

export class BackupCopyError extends Error {
  override readonly name = 'BackupCopyError';
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

/** Copies `file` (and its record) into `dir` under the same name, verified by sha256; returns the copy's path. */
export async function copyBackup(file: string, record: string, dir: string, sha256: string): Promise<string> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const target = path.join(dir, path.basename(file));
    const partial = `${target}.partial`;
    await copyFile(file, partial);
    await chmod(partial, 0o600);
    const copied = await sha256File(partial);
    if (copied !== sha256) {
      await rm(partial, { force: true });
      throw new BackupCopyError(`the copy of ${file} in ${dir} has sha256 ${copied}, not ${sha256}`);
    }
    await rename(partial, target);
    await copyFile(record, `${target}.json`);
    await chmod(`${target}.json`, 0o600);
    return target;
  } catch (err) {
    if (err instanceof BackupCopyError) throw err;
    throw new BackupCopyError(`cannot copy ${file} to ${dir} (migrations.backups.copyTo): ${(err as Error).message}`);
  }
}

/** Removes all but the newest `keep` backups (`*.dump` and their records) in `dir`, never `spare`; returns what it removed. */
export async function pruneBackups(dir: string, keep: number, spare: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const dumps = await Promise.all(
    names.filter((name) => name.endsWith('.dump')).map(async (name) => ({ name, mtime: (await stat(path.join(dir, name))).mtimeMs })),
  );
  dumps.sort((a, b) => b.mtime - a.mtime || b.name.localeCompare(a.name));
  const removed: string[] = [];
  for (const { name } of dumps.slice(keep)) {
    if (name === path.basename(spare)) continue;
    await rm(path.join(dir, name), { force: true });
    await rm(path.join(dir, `${name}.json`), { force: true });
    removed.push(name);
  }
  return removed;
}
