// Installs what a fresh machine lacks to run Gantry's local stack: the Temporal CLI (pinned, built with
// `go install` into a cache outside the repo), HAProxy and PostgreSQL. Used by `npm run demo`, the tests' global
// setup and .ci/run (plus Chromium for the tests). Run directly: `npx tsx scripts/setup.ts`.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const TEMPORAL_MODULE = 'github.com/temporalio/cli/cmd/temporal';

export class SetupError extends Error {
  override readonly name = 'SetupError';
}

const isExecutable = (file: string) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (dir && isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function temporalCacheDir(): string {
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'gantry', `temporal-${TEMPORAL_CLI_VERSION}`);
}

/** $TEMPORAL_CLI_PATH, then `temporal` on PATH, then the cached build, else build the cache. */
export function ensureTemporalCli(log: (line: string) => void = () => {}): string {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new SetupError(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const found = onPath('temporal');
  if (found) return found;
  const dir = temporalCacheDir();
  const cached = path.join(dir, 'temporal');
  if (isExecutable(cached)) return cached;

  const go = onPath('go');
  if (!go) {
    throw new SetupError(
      'The Temporal CLI is needed and was not found. Install it (https://docs.temporal.io/cli#install, e.g. `brew install temporal`) ' +
        'and put it on PATH or set TEMPORAL_CLI_PATH, or install Go so this script can build it with `go install`.',
    );
  }
  mkdirSync(dir, { recursive: true });
  log(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} into ${dir} (go install; takes a few minutes once)`);
  const started = Date.now();
  const build = spawnSync(go, ['install', `${TEMPORAL_MODULE}@${TEMPORAL_CLI_VERSION}`], {
    env: { ...process.env, GOBIN: dir },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (build.status !== 0 || !isExecutable(cached)) {
    throw new SetupError(`go install ${TEMPORAL_MODULE}@${TEMPORAL_CLI_VERSION} failed (exit ${build.status}); see its output above`);
  }
  log(`built the Temporal CLI in ${Math.round((Date.now() - started) / 1000)} s`);
  return cached;
}

/** HAProxy from PATH or /usr/sbin; installs the Debian package when missing and running as root. */
export function ensureHaproxy(log: (line: string) => void = () => {}): string {
  return findOrInstall(() => onPath('haproxy') ?? ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find(isExecutable), 'haproxy', 'HAProxy', log);
}

/** What `find` finds, else the Debian package installed and found again. */
function findOrInstall(find: () => string | undefined, pkg: string, what: string, log: (line: string) => void): string {
  const found = find();
  if (found) return found;
  aptInstall(pkg, what, log);
  const installed = find();
  if (!installed) throw new SetupError(`apt-get installed ${pkg} but no ${what} binary was found`);
  return installed;
}

/** Installs a Debian package as root; anyone else is told the one command to run. */
function aptInstall(pkg: string, what: string, log: (line: string) => void): void {
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    throw new SetupError(`${what} is needed and was not found. Install it with: sudo apt-get install -y ${pkg}`);
  }
  log(`installing ${pkg} with apt-get`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

/** PostgreSQL's server programs (initdb, pg_ctl, postgres) and client tools; the Debian package when missing. */
export function ensurePostgres(log: (line: string) => void = () => {}): string {
  const find = () => {
    const fromPath = onPath('initdb');
    if (fromPath && isExecutable(path.join(path.dirname(fromPath), 'pg_ctl'))) return path.dirname(fromPath);
    const root = '/usr/lib/postgresql';
    const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
    return versions.map((v) => path.join(root, v, 'bin')).find((dir) => isExecutable(path.join(dir, 'initdb')));
  };
  const found = find();
  if (found && onPath('pg_dump')) return found;
  aptInstall('postgresql', 'PostgreSQL', log);
  const installed = find();
  if (!installed) throw new SetupError('apt-get installed postgresql but no initdb was found');
  return installed;
}

/** Headless Chromium for the test of the Temporal Web UI (driven by playwright-core, which downloads no browser). */
export function ensureChromium(log: (line: string) => void = () => {}): string {
  const find = () => [process.env.CHROMIUM_PATH, onPath('chromium'), '/usr/bin/chromium'].find((p): p is string => Boolean(p && isExecutable(p)));
  return findOrInstall(find, 'chromium', 'Chromium', log);
}

export function setup(log: (line: string) => void = () => {}): { temporal: string; haproxy: string; postgresBin: string } {
  return { temporal: ensureTemporalCli(log), haproxy: ensureHaproxy(log), postgresBin: ensurePostgres(log) };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const log = (line: string) => console.error(`setup: ${line}`);
    const tools = setup(log);
    // Only the tests need a browser; the demo does not.
    const chromium = ensureChromium(log);
    console.log(`temporal: ${tools.temporal}\nhaproxy: ${tools.haproxy}\npostgres: ${tools.postgresBin}\nchromium: ${chromium}`);
  } catch (err) {
    console.error(`setup: ${(err as Error).message}`);
    process.exit(1);
  }
}
