// Git through argument arrays, never a shell.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class GitError extends Error {
  override readonly name = 'GitError';
}

/**
 * Resolves a tag on a remote (URL or repository path) to the commit it names, asking the remote itself:
 * a tag that was never pushed does not resolve. Returns undefined when the remote has no such tag.
 */
export async function resolveRemoteTag(remote: string, tag: string, timeoutMs = 30_000): Promise<string | undefined> {
  const ref = `refs/tags/${tag}`;
  let stdout: string;
  try {
    ({ stdout } = await run('git', ['ls-remote', '--tags', '--', remote, ref], {
      timeout: timeoutMs,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
    }));
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new GitError(`git ls-remote ${remote} failed: ${(e.stderr ?? e.message).trim()}`);
  }
  const refs = new Map(
    stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [sha, name] = line.split('\t');
        return [name, sha] as const;
      }),
  );
  // An annotated tag lists the tag object and, peeled ("^{}"), the commit it points at.
  return refs.get(`${ref}^{}`) ?? refs.get(ref);
}

export const isValidTagName = (tag: string) =>
  /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/.test(tag) && !tag.includes('..') && !tag.endsWith('.lock') && !tag.endsWith('/');
