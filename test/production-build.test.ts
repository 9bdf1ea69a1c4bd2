// `npm run build`: the compiled CLI and the prebuilt workflow bundles run on their own — a worker
// from the build polls without tsx and without bundling, and the build holds no devkit.
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startProcess, type ManagedProcess } from '../devkit/local/child-process';
import { waitUntil } from '../lib/core/wait';

const run = promisify(execFile);
const ROOT = path.join(import.meta.dirname, '..');
let dir: string;
let worker: ManagedProcess | undefined;

describe('the production build', () => {
  beforeAll(async () => {
    // A folder with what the image has: package.json, node_modules (linked from the checkout) and dist/.
    dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-build-'));
    await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/build.ts'), '--out', path.join(dir, 'dist')], { cwd: ROOT });
    await writeFile(path.join(dir, 'package.json'), await readFile(path.join(ROOT, 'package.json')));
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  });
  afterAll(async () => {
    await worker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the CLI compiled, and refuses the demo with a clear message', async () => {
    const help = await run(process.execPath, ['dist/gantry.mjs', '--help'], { cwd: dir });
    expect(help.stdout).toMatch(/worker .*\n[\s\S]*versions/);
    const demo = await run(process.execPath, ['dist/gantry.mjs', 'demo', '--once'], { cwd: dir }).catch((err: { code: number; stderr: string }) => err);
    expect(demo).toMatchObject({ code: 1 });
    expect((demo as { stderr: string }).stderr).toMatch(/the demo needs a checkout of Gantry with its devkit/);
    const code = await readFile(path.join(dir, 'dist/gantry.mjs'), 'utf8');
    expect(code).not.toMatch(/startLocalStack|devkit\/local/);
  });

  it('starts a worker that polls from the prebuilt bundles, bundling nothing', async () => {
    const suffix = randomUUID().slice(0, 8);
    worker = startProcess(process.execPath, ['dist/gantry.mjs', 'worker'], {
      cwd: dir,
      logFile: path.join(dir, 'worker.log'),
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        GANTRY_TASK_QUEUE: `build-${suffix}`,
        GANTRY_DEPLOYMENT_NAME: `gantry-build-${suffix}`,
        XDG_CACHE_HOME: path.join(dir, 'cache'),
        GANTRY_ENVIRONMENTS: path.join(dir, 'environments'),
      },
    });
    const polling = await waitUntil(async () => worker!.exited() || (await worker!.logTail(200)).includes('orchestrator worker running'), 60_000, 100);
    const log = await worker.logTail(400);
    expect(polling && !worker.exited(), log).toBe(true);
    expect(log).not.toMatch(/Workflow bundle created|webpack/);
    expect(log).toMatch(/"buildId":"\d+\.\d+\.\d+-[0-9a-f]{12}"/);
  });
});
