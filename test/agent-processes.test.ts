// The agent after a reboot and on a bad day: pid files name a process, not a number; a hung command
// is ended with everything it started at its deadline and the node takes the next work; a command
// that exits at once is seen to finish. Real processes throughout.
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../lib/core/logger';
import { waitUntil } from '../lib/core/wait';
import { AppSupervisor } from '../lib/node/app-supervisor';
import { identify } from '../lib/node/process-identity';
import { endLeftoverCommand, runCommand } from '../lib/node/run-command';
import { agentOnDisk } from './helpers/agent';
import { caught } from './helpers/caught';

let dir: string;
const strangers: ChildProcess[] = [];

/** A process that is not the agent's: stands for whoever took a recorded pid after a reboot. */
async function stranger(): Promise<number> {
  const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
  strangers.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child.pid!;
}

const appSpec = (command: string[]) => ({ command, env: {}, stopSignal: 'SIGTERM' as const, stopGraceMs: 1_000, startTimeoutMs: 1_000, address: '127.0.0.1:1' });
const alive = async (pid: number) => (await identify(pid)) !== undefined;
const exists = (file: string) => stat(file).then(() => true, () => false);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-agent-proc-'));
});
afterAll(async () => {
  for (const child of strangers) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('commands the agent runs', () => {
  it('sees a command that exits at once finish, every time, and removes its pid file', async () => {
    const pidFile = path.join(dir, 'fast.pid');
    for (let i = 0; i < 25; i++) {
      const result = await runCommand(['true'], { cwd: dir, env: {}, timeoutMs: 5_000, pidFile });
      expect(result.exitCode).toBe(0);
    }
    expect(await exists(pidFile)).toBe(false);
  });

  it('ends a hung command and what it started (SIGTERM ignored) at its deadline', async () => {
    const childPidFile = path.join(dir, 'grandchild.pid');
    const started = Date.now();
    // Ignored signals survive exec: the background sleep ignores SIGTERM too, and holds the output pipes.
    const result = await runCommand(['sh', '-c', `trap "" TERM; sleep 300 & echo $! > ${childPidFile}; wait`], {
      cwd: dir,
      env: {},
      timeoutMs: 1_000,
      killGraceMs: 500,
      pidFile: path.join(dir, 'hung.pid'),
    });
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(5_000);
    const grandchild = Number(await readFile(childPidFile, 'utf8'));
    expect(await waitUntil(async () => !(await alive(grandchild)), 2_000, 50)).toBe(true);
  });

  it('leaves a stranger that reused a recorded pid alone, and ends the recorded command itself', async () => {
    const pid = await stranger();
    const identity = (await identify(pid))!;
    const pidFile = path.join(dir, 'leftover.pid');

    await writeFile(pidFile, JSON.stringify({ ...identity, startTicks: String(Number(identity.startTicks) - 1) }));
    expect(await endLeftoverCommand(pidFile)).toEqual({ pid, ended: false });
    expect(await alive(pid)).toBe(true);

    await writeFile(pidFile, JSON.stringify({ ...identity, bootId: 'another-boot' }));
    expect(await endLeftoverCommand(pidFile)).toEqual({ pid, ended: false });
    expect(await alive(pid)).toBe(true);

    await writeFile(pidFile, JSON.stringify(identity));
    expect(await endLeftoverCommand(pidFile)).toEqual({ pid, ended: true });
    expect(await waitUntil(async () => !(await alive(pid)), 2_000, 50)).toBe(true);
    expect(await exists(pidFile)).toBe(false);
  });
});

describe('the app record', () => {

  it('neither adopts nor signals a process that took over the recorded pid', async () => {
    const root = path.join(dir, 'app-node');
    await mkdir(root, { recursive: true });
    const app = new AppSupervisor(root, appSpec(['node', 'server.js']), createLogger('test', 'silent'));
    const pid = await stranger();
    const identity = (await identify(pid))!;

    // As an agent of this version records it, but the process there now started at another time.
    await writeFile(path.join(root, 'app.json'), JSON.stringify({ pid, release: 'v1', startedAt: new Date().toISOString(), identity: { ...identity, startTicks: '1' } }));
    expect(await app.running()).toBeNull();
    await app.stop();
    expect(await alive(pid)).toBe(true);

    // As an older agent recorded it (a pid only): the command line is not the app's.
    await writeFile(path.join(root, 'app.json'), JSON.stringify({ pid, release: 'v1', startedAt: new Date().toISOString() }));
    expect(await app.running()).toBeNull();
    await app.stop();
    expect(await alive(pid)).toBe(true);
  });
});

describe('a migration that hangs', () => {
  it('fails at migrations.timeout naming the deadline, and the node runs the next command', async () => {
    const { store, activities } = await agentOnDisk({
      root: path.join(dir, 'migrating-node'),
      node: 'web-1',
      sources: `file://${dir}/`,
      migrations: { command: ['sh', '-c'], expand: ['trap "" TERM; sleep 300'], contract: ['echo contracted'] },
    });
    await mkdir(store.releaseDir('v2'), { recursive: true });
    const run = (phase: 'expand' | 'contract', timeoutMs: number) =>
      new MockActivityEnvironment().run((input) => activities.runMigration(input), { phase, release: 'v2', timeoutMs });

    const started = Date.now();
    const failure = (await caught(run('expand', 1_000))) as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe('CommandFailed');
    expect(failure.message).toContain('did not finish within 1 s');
    expect(Date.now() - started).toBeLessThan(10_000);
    // The node's one-at-a-time lock was released: the next command runs and is seen to finish.
    await expect(run('contract', 5_000)).resolves.toMatchObject({ ran: true });
  });
});
