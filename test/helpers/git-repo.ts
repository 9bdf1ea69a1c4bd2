// Real git repositories for tests: a working copy and a bare "remote" it pushes to.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestRepo {
  work: string;
  remote: string;
  git(...args: string[]): Promise<string>;
  commit(subject: string, author: { name: string; email: string }): Promise<string>;
}

export async function createTestRepo(dir: string): Promise<TestRepo> {
  const work = path.join(dir, 'work');
  const remote = path.join(dir, 'remote.git');
  await mkdir(work, { recursive: true });
  const git = async (...args: string[]) => (await run('git', ['-C', work, '-c', 'init.defaultBranch=main', ...args])).stdout.trim();
  await run('git', ['init', '--quiet', '--bare', remote]);
  await git('init', '--quiet');
  await git('remote', 'add', 'origin', remote);
  return {
    work,
    remote,
    git,
    async commit(subject, author) {
      await git('-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`, 'commit', '--quiet', '--allow-empty', '-m', subject);
      return git('rev-parse', 'HEAD');
    },
  };
}
