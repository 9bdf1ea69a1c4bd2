// Builds real releases of the sample app: a git repository with one tagged commit per release, pushed
// to a bare "remote", and a tarball of each tag (git archive) with its sha256.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tar from 'tar';

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

/**
 * A release name, or a release described: nodes where its health check fails, whether it answers
 * every request but the health check with a 500 (failsRequests), the columns of
 * `items` it reads, which of the app's migration files it carries (all when absent), and extra
 * files (release path → source path), e.g. a broken migration for a test; `authors` ("Name <email>"):
 * one commit by each before the release, the release commit by the last (a change list with authors).
 */
export type SampleReleaseSpec =
  | string
  | { release: string; unhealthyOn?: string[]; columns?: string[]; migrations?: string[]; files?: Record<string, string>; failsRequests?: boolean; authors?: string[] };

/** The sample app's releases with a database: v1 base schema, v2 expand, v3 contract. */
export const DATABASE_RELEASES: SampleReleaseSpec[] = [
  { release: 'v1', columns: ['id', 'name', 'legacy_code'], migrations: ['expand/001_base.js'] },
  { release: 'v2', columns: ['id', 'name', 'description'], migrations: ['expand/001_base.js', 'expand/002_add_description.js'] },
  {
    release: 'v3',
    columns: ['id', 'name', 'description'],
    migrations: ['expand/001_base.js', 'expand/002_add_description.js', 'contract/003_drop_legacy_code.js'],
  },
];

const RUNTIME_DEPENDENCIES = ['pg', 'node-pg-migrate'];
const GANTRY_NODE_MODULES = fileURLToPath(new URL('../../node_modules', import.meta.url));

export async function buildSampleReleases(dir: string, specs: SampleReleaseSpec[]): Promise<SampleRepo> {
  const work = path.join(dir, 'app-src');
  const remote = path.join(dir, 'app.git');
  const artifacts = path.join(dir, 'artifacts');
  await mkdir(artifacts, { recursive: true });
  await cp(SAMPLE_APP_DIR, work, { recursive: true });
  await git(dir, 'init', '--bare', '--quiet', remote);
  await git(work, 'init', '--quiet');
  await git(work, 'remote', 'add', 'origin', remote);
  // Dependencies ship inside the artifact, as a built release would carry them; not in git.
  await writeFile(path.join(work, '.gitignore'), 'node_modules/\n');
  await copyDependencies(RUNTIME_DEPENDENCIES, GANTRY_NODE_MODULES, path.join(work, 'node_modules'));
  const allMigrations = (await readdir(path.join(SAMPLE_APP_DIR, 'migrations'), { recursive: true })).filter((f) => f.endsWith('.js'));

  const built: Record<string, BuiltRelease> = {};
  for (const spec of specs) {
    const { release, migrations, files, authors = [], ...manifest } = typeof spec === 'string' ? { release: spec } : spec;
    for (const author of authors.slice(0, -1)) await git(work, 'commit', '--quiet', '--allow-empty', `--author=${author}`, '-m', `Change by ${author.replace(/ <.*>$/, '')} for ${release}`);
    await writeFile(path.join(work, 'release.json'), `${JSON.stringify({ release, ...manifest })}\n`);
    for (const migration of allMigrations) {
      const target = path.join(work, 'migrations', migration);
      if (migrations && !migrations.includes(migration)) await rm(target, { force: true });
      else await cp(path.join(SAMPLE_APP_DIR, 'migrations', migration), target);
    }
    for (const [dest, src] of Object.entries(files ?? {})) {
      await mkdir(path.dirname(path.join(work, dest)), { recursive: true });
      await cp(src, path.join(work, dest));
    }
    await git(work, 'add', '-A');
    await git(work, 'commit', '--quiet', '--allow-empty', ...(authors.length ? [`--author=${authors[authors.length - 1]}`] : []), '-m', `Release ${release}`);
    await git(work, 'tag', '-a', release, '-m', `Release ${release}`);
    const commit = (await git(work, 'rev-parse', 'HEAD')).stdout.trim();
    const file = path.join(artifacts, `app-${release}.tgz`);
    await tar.c({ gzip: true, file, cwd: work, portable: true, filter: (p) => !/^(\.\/)?\.git(\/|$)/.test(p) }, ['.']);
    for (const dest of Object.keys(files ?? {})) await rm(path.join(work, dest), { force: true });
    const sha256 = createHash('sha256').update(await readFile(file)).digest('hex');
    built[release] = { release, commit, file, url: `file://${file}`, sha256 };
  }
  await git(work, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main', '--tags');
  return { remote, releases: built };
}

/** Copies packages and everything they depend on (resolved as Node does, up the tree) from `from` into `to`. */
async function copyDependencies(names: string[], from: string, to: string): Promise<void> {
  const seen = new Set<string>();
  const resolve = (dir: string, dep: string): string | undefined => {
    for (let cur = dir; cur.startsWith(path.dirname(from)); cur = path.dirname(cur)) {
      const candidate = path.join(cur, 'node_modules', dep);
      if (existsSync(path.join(candidate, 'package.json'))) return candidate;
      if (cur === path.dirname(from)) break;
    }
    return undefined;
  };
  const visit = async (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(manifest.dependencies ?? {})) {
      const found = resolve(dir, dep);
      if (found) await visit(found);
    }
  };
  for (const name of names) await visit(path.join(from, name));
  // Hoisted packages are copied whole; nested ones come along inside their parent.
  for (const dir of seen) {
    const relative = path.relative(from, dir);
    if (!relative.includes('node_modules')) await cp(dir, path.join(to, relative), { recursive: true, dereference: true });
  }
}
