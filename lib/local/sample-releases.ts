// Builds real releases of the sample app: a git repository with one tagged commit per release, pushed
// to a bare "remote", and a tarball of each tag (git archive) with its sha256.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const SAMPLE_APP_DIR = fileURLToPath(new URL('../../examples/app', import.meta.url));

export interface BuiltRelease {
  release: string;
  commit: string;
  url: string;
  file: string;
  sha256: string;
}

export interface SampleRepo {
  /** Bare repository: the environment's canonical remote. */
  remote: string;
  releases: Record<string, BuiltRelease>;
}

const git = (cwd: string, ...args: string[]) =>
  run('git', ['-c', 'user.name=Gantry Demo', '-c', 'user.email=demo@gantry.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd });

/** A release name, or one whose health check fails on the named nodes. */
export type SampleReleaseSpec = string | { release: string; unhealthyOn: string[] };

export async function buildSampleReleases(dir: string, specs: SampleReleaseSpec[]): Promise<SampleRepo> {
  const work = path.join(dir, 'app-src');
  const remote = path.join(dir, 'app.git');
  const artifacts = path.join(dir, 'artifacts');
  await mkdir(artifacts, { recursive: true });
  await cp(SAMPLE_APP_DIR, work, { recursive: true });
  await git(dir, 'init', '--bare', '--quiet', remote);
  await git(work, 'init', '--quiet');
  await git(work, 'remote', 'add', 'origin', remote);

  const built: Record<string, BuiltRelease> = {};
  for (const spec of specs) {
    const { release, ...rest } = typeof spec === 'string' ? { release: spec } : spec;
    await writeFile(path.join(work, 'release.json'), `${JSON.stringify({ release, ...rest })}\n`);
    await git(work, 'add', '-A');
    await git(work, 'commit', '--quiet', '--allow-empty', '-m', `Release ${release}`);
    await git(work, 'tag', '-a', release, '-m', `Release ${release}`);
    const commit = (await git(work, 'rev-parse', 'HEAD')).stdout.trim();
    const file = path.join(artifacts, `app-${release}.tgz`);
    await git(work, 'archive', '--format=tar.gz', '-o', file, release);
    const sha256 = createHash('sha256').update(await readFile(file)).digest('hex');
    built[release] = { release, commit, file, url: `file://${file}`, sha256 };
  }
  await git(work, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main', '--tags');
  return { remote, releases: built };
}
