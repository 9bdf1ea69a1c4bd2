// A node's release folders: <root>/releases/<release>/ (verified, unpacked), <root>/current (a symlink
// switched atomically), <root>/shared/ (survives releases).
import { mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

const STAGED_MARKER = '.gantry-staged';
/** The sha256 of the artifact a release was unpacked from: a release is its id and its digest. */
const DIGEST_FILE = '.gantry-sha256';
import { isValidReleaseId } from '../config/environment-schema';

export { isValidReleaseId };

export class ReleaseStore {
  readonly releasesDir: string;
  readonly currentLink: string;
  readonly sharedDir: string;
  readonly backupsDir: string;
  /** The process group of a command the agent runs (a migration), so a restarted agent can end it. */
  readonly commandPidFile: string;

  constructor(readonly root: string) {
    this.releasesDir = path.join(root, 'releases');
    this.currentLink = path.join(root, 'current');
    this.sharedDir = path.join(root, 'shared');
    this.backupsDir = path.join(root, 'backups');
    this.commandPidFile = path.join(root, 'command.pid');
  }

  async init(): Promise<void> {
    await mkdir(this.releasesDir, { recursive: true });
    await mkdir(this.sharedDir, { recursive: true });
  }

  releaseDir(release: string): string {
    if (!isValidReleaseId(release)) throw new Error(`invalid release id "${release}"`);
    return path.join(this.releasesDir, release);
  }

  /** The release `current` points at, or null on a fresh node. */
  async current(): Promise<string | null> {
    try {
      return path.basename(await readlink(this.currentLink));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async isStaged(release: string): Promise<boolean> {
    return exists(path.join(this.releaseDir(release), STAGED_MARKER));
  }

  /** The digest the release was staged from; null for one staged before digests were recorded. */
  async stagedDigest(release: string): Promise<string | null> {
    const text = await readFile(path.join(this.releaseDir(release), DIGEST_FILE), 'utf8').catch(() => null);
    return text?.trim() || null;
  }

  /** Called while filling a scratch folder (see stage). */
  async recordDigest(scratchDir: string, sha256: string): Promise<void> {
    await writeFile(path.join(scratchDir, DIGEST_FILE), `${sha256}\n`);
  }

  /**
   * Fills a scratch folder with `fill`, then renames it into place: a crash mid-way leaves only
   * scratch, never a half-unpacked release under its real name.
   */
  async stage(release: string, fill: (scratchDir: string) => Promise<void>): Promise<void> {
    const final = this.releaseDir(release);
    const scratch = path.join(this.releasesDir, `.staging-${release}-${process.pid}-${Date.now()}`);
    await mkdir(scratch, { recursive: true });
    try {
      await fill(scratch);
      await writeFile(path.join(scratch, STAGED_MARKER), new Date().toISOString());
      await rm(final, { recursive: true, force: true }); // an unmarked leftover from an older crash
      await rename(scratch, final);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }

  /** Points `current` at the release by renaming a new symlink over it (atomic on POSIX). */
  async switchCurrent(release: string): Promise<void> {
    const temp = `${this.currentLink}.next-${process.pid}`;
    await rm(temp, { force: true });
    await symlink(path.relative(this.root, this.releaseDir(release)), temp);
    await rename(temp, this.currentLink);
  }

  async clearCurrent(): Promise<void> {
    await rm(this.currentLink, { force: true });
  }

  /** Keeps the newest `keep` staged releases and always the current one; removes scratch leftovers. */
  async prune(keep: number, alsoKeep: string[] = []): Promise<string[]> {
    const current = await this.current();
    const entries = await readdir(this.releasesDir);
    const staged: { name: string; time: number }[] = [];
    for (const name of entries) {
      if (name.startsWith('.staging-')) {
        if (!name.includes(`-${process.pid}-`)) await rm(path.join(this.releasesDir, name), { recursive: true, force: true });
        continue;
      }
      // A download an abandoned attempt left (kept only so a retry of the same release can resume).
      if (name.startsWith('.download-')) {
        if (!alsoKeep.some((r) => name.startsWith(`.download-${r}-`))) await rm(path.join(this.releasesDir, name), { force: true });
        continue;
      }
      const marker = await stat(path.join(this.releasesDir, name, STAGED_MARKER)).catch(() => undefined);
      if (marker) staged.push({ name, time: marker.mtimeMs });
    }
    staged.sort((a, b) => b.time - a.time);
    const removed: string[] = [];
    for (const { name } of staged.slice(keep)) {
      if (name === current || alsoKeep.includes(name)) continue;
      await rm(path.join(this.releasesDir, name), { recursive: true, force: true });
      removed.push(name);
    }
    return removed;
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
