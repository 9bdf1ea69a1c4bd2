// A cached mirror of the environment's canonical remote, kept on the orchestrator worker and updated
// by fetch before each verification: tags are checked against what the remote has now.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setting } from '../config/settings';

const run = promisify(execFile);

export class GitError extends Error {
  override readonly name = 'GitError';
}

export interface TagRef {
  /** The ref's target: a tag object (annotated) or a commit (lightweight). */
  object: string;
  /** git's object type: "tag" (annotated) or "commit" (lightweight). */
  type: string;
  commit: string;
}

export interface Commit {
  sha: string;
  author: string;
  subject: string;
}

export const defaultMirrorsDir = () =>
  setting('GANTRY_MIRRORS_DIR') ?? path.join(setting('XDG_CACHE_HOME') ?? path.join(os.homedir(), '.cache'), 'gantry', 'mirrors');

// One update at a time per mirror in this process; git's own locks guard against other processes.
const updating = new Map<string, Promise<void>>();

export class GitMirror {
  readonly dir: string;

  constructor(
    readonly remote: string,
    mirrorsDir: string,
  ) {
    this.dir = path.join(mirrorsDir, `${createHash('sha256').update(remote).digest('hex').slice(0, 16)}.git`);
  }

  async git(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
    try {
      const { stdout } = await run('git', ['-C', this.dir, ...args], {
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 32 * 1024 * 1024,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', ...options.env },
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new GitError(`git ${args[0]} failed: ${(e.stderr || e.message).trim()}`);
    }
  }

  /** Clones the mirror on first use, then fetches: afterwards its refs are exactly the remote's. */
  async update(): Promise<void> {
    const pending = updating.get(this.dir);
    if (pending) return pending;
    const work = this.fetchOrClone().finally(() => updating.delete(this.dir));
    updating.set(this.dir, work);
    return work;
  }

  private async fetchOrClone(): Promise<void> {
    const exists = await stat(path.join(this.dir, 'HEAD')).then(
      () => true,
      () => false,
    );
    if (exists) {
      await this.git(['fetch', '--quiet', '--prune', '--prune-tags', '--force', 'origin'], { timeoutMs: 300_000 });
      return;
    }
    await mkdir(path.dirname(this.dir), { recursive: true });
    try {
      await run('git', ['clone', '--quiet', '--mirror', '--', this.remote, this.dir], {
        timeout: 600_000,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
      });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new GitError(`cannot mirror ${this.remote}: ${(e.stderr || e.message).trim()}`);
    }
  }

  async tag(tag: string): Promise<TagRef | undefined> {
    const object = (await this.git(['rev-parse', '--verify', '--quiet', `refs/tags/${tag}`]).catch(() => '')).trim();
    if (!object) return undefined;
    const type = (await this.git(['cat-file', '-t', object])).trim();
    const commit = (await this.git(['rev-parse', '--verify', '--quiet', `${object}^{commit}`])).trim();
    return { object, type, commit };
  }

  /** The name written inside an annotated tag object (what a signature covers). */
  async tagObjectName(object: string): Promise<string | undefined> {
    const body = await this.git(['cat-file', 'tag', object]);
    return /^tag (.+)$/m.exec(body)?.[1];
  }

  /** The annotated tag's message, without its signature block. */
  async tagMessage(object: string): Promise<string> {
    const body = await this.git(['cat-file', 'tag', object]);
    const message = body.slice(body.indexOf('\n\n') + 2);
    const signature = message.search(/^-----BEGIN (SSH|PGP) SIGNATURE-----$/m);
    return signature >= 0 ? message.slice(0, signature) : message;
  }

  async hasCommit(sha: string): Promise<boolean> {
    return this.git(['cat-file', '-e', `${sha}^{commit}`]).then(
      () => true,
      () => false,
    );
  }

  /** `git verify-tag`, judged by its exit code: "Good signature … No principal matched" exits 1. */
  async verifyTag(tag: string, trust: { allowedSignersFile?: string; gpgHome?: string }): Promise<{ ok: boolean; output: string }> {
    const config = trust.allowedSignersFile ? ['-c', `gpg.ssh.allowedSignersFile=${trust.allowedSignersFile}`] : [];
    try {
      const { stdout, stderr } = await run('git', ['-C', this.dir, ...config, 'verify-tag', '--', `refs/tags/${tag}`], {
        timeout: 30_000,
        env: { ...process.env, ...(trust.gpgHome ? { GNUPGHOME: trust.gpgHome } : {}) },
      });
      return { ok: true, output: `${stderr}${stdout}`.trim() };
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      return { ok: false, output: `${e.stderr ?? ''}${e.stdout ?? ''}`.trim() || e.message };
    }
  }

  /** Commits in tag `to` and not in tag `from` (everything up to `to` without `from`), newest first. */
  async commitsBetween(from: string | undefined, to: string, limit: number): Promise<{ commits: Commit[]; total: number }> {
    const range = from ? [`refs/tags/${from}..refs/tags/${to}`] : [`refs/tags/${to}`];
    const total = Number((await this.git(['rev-list', '--count', ...range])).trim());
    const log = await this.git(['log', `--max-count=${limit}`, '--format=%H%x1f%an <%ae>%x1f%s', ...range]);
    const commits = log
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [sha = '', author = '', subject = ''] = line.split('\x1f');
        return { sha, author, subject };
      });
    return { commits, total };
  }
}

/** Tags on `remote` whose commit is `commit` (annotated tags peeled), read with `git ls-remote`: no clone. */
export async function remoteTagsAt(remote: string, commit: string, timeoutMs = 30_000): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('git', ['ls-remote', '--tags', remote], { timeout: timeoutMs, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }));
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new GitError(`git ls-remote ${remote} failed: ${(e.stderr || e.message).trim()}`);
  }
  const commitOf = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const [sha, ref] = line.split('\t');
    if (!sha || !ref?.startsWith('refs/tags/')) continue;
    const peeled = ref.endsWith('^{}');
    const name = ref.slice('refs/tags/'.length, peeled ? -3 : undefined);
    // The peeled line names the commit of an annotated tag; it wins over the tag object's own sha.
    if (peeled || !commitOf.has(name)) commitOf.set(name, sha);
  }
  return [...commitOf].filter(([, sha]) => sha === commit).map(([name]) => name);
}
