// Runs the app of one node. The app is started detached, in its own process group, and recorded in
// <root>/app.json, so it outlives an agent restart and a new agent adopts it instead of restarting it.
// The record holds the process's identity (boot, start time, command line): a pid reused by another
// process after a reboot is neither adopted nor signalled.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../core/logger';
import { canConnect, sleep, splitHostPort, waitUntil } from '../core/wait';
import { inheritedEnv } from './child-env';
import { identify, signalGroup, stillRunning, type ProcessIdentity } from './process-identity';

export interface AppSpec {
  command: string[];
  env: Record<string, string>;
  stopSignal: NodeJS.Signals;
  stopGraceMs: number;
  startTimeoutMs: number;
  /** host:port the app listens on; PORT is set from it unless env sets PORT. */
  address: string;
}

interface AppRecord {
  pid: number;
  release: string;
  startedAt: string;
  /** Started against a rehearsal copy of its database (blue-green), by the copy's id. */
  rehearsal?: string;
  /** Absent in records older agents wrote: then the command line must look like the app's command. */
  identity?: ProcessIdentity;
}

export class AppStartError extends Error {
  override readonly name = 'AppStartError';
}

export class AppSupervisor {
  private readonly recordFile: string;
  readonly logFile: string;

  constructor(
    private readonly root: string,
    private readonly spec: AppSpec,
    private readonly logger: Logger,
  ) {
    this.recordFile = path.join(root, 'app.json');
    this.logFile = path.join(root, 'app.log');
  }

  /** The release of the running app process, or null when none runs. */
  async running(): Promise<string | null> {
    const record = await this.record();
    return record && (await isRecordedApp(record, this.spec.command)) ? record.release : null;
  }

  async stop(): Promise<void> {
    const record = await this.record();
    if (record && (await isRecordedApp(record, this.spec.command))) {
      this.logger.info({ pid: record.pid, release: record.release, signal: this.spec.stopSignal }, 'stopping app');
      signalGroup(record.pid, this.spec.stopSignal);
      const gone = () => isRecordedApp(record, this.spec.command).then((alive) => !alive);
      const exited = await waitUntil(gone, this.spec.stopGraceMs, 50);
      if (!exited) {
        this.logger.warn({ pid: record.pid, graceMs: this.spec.stopGraceMs }, 'app ignored the stop signal; killing it');
        signalGroup(record.pid, 'SIGKILL');
        await waitUntil(gone, 5_000, 50);
      }
    } else if (record) {
      this.logger.warn({ pid: record.pid, release: record.release }, 'the recorded app is gone (its pid is free or another process now); not signalling it');
    }
    await rm(this.recordFile, { force: true });
  }

  /** The rehearsal copy the running app was started against, if any. */
  async runningRehearsal(): Promise<string | undefined> {
    const record = await this.record();
    return record && (await isRecordedApp(record, this.spec.command)) ? record.rehearsal : undefined;
  }

  /** Starts the app from `cwd` and waits until its port accepts connections; `rehearsal` overrides its environment (DATABASE_URL of the copy). */
  async start(release: string, cwd: string, rehearsal?: { id: string; env: Record<string, string> }): Promise<number> {
    const { host, port } = splitHostPort(this.spec.address);
    if (await canConnect(host, port, 500)) {
      throw new AppStartError(`port ${port} is already in use by another process; cannot start release ${release}`);
    }
    const out = openSync(this.logFile, 'a');
    const [file, ...args] = this.spec.command as [string, ...string[]];
    const child = spawn(file, args, {
      cwd,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...inheritedEnv(), PORT: String(port), GANTRY_RELEASE: release, ...this.spec.env, ...rehearsal?.env },
    });
    closeSync(out);
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) => reject(new AppStartError(`cannot start ${file}: ${err.message}`)));
    });
    child.unref();
    let exited = false;
    child.once('exit', () => (exited = true));
    // After 'spawn' the exec has happened: /proc shows the app's own command line and start time.
    const identity = await identify(pid);
    // Written aside and renamed: a reader (a new agent, the local stack's reaper) never sees half a record.
    await writeFile(
      `${this.recordFile}.partial`,
      JSON.stringify({ pid, release, startedAt: new Date().toISOString(), ...(rehearsal ? { rehearsal: rehearsal.id } : {}), ...(identity ? { identity } : {}) } satisfies AppRecord),
    );
    await rename(`${this.recordFile}.partial`, this.recordFile);
    this.logger.info({ pid, release, cwd }, 'app started; waiting for its port');
    const up = await waitUntil(async () => exited || (await canConnect(host, port, 500)), this.spec.startTimeoutMs, 50);
    if (exited) throw new AppStartError(`release ${release} exited during start-up; last output:\n${await this.logTail()}`);
    if (!up) {
      await this.stop();
      throw new AppStartError(`release ${release} did not open port ${port} within ${this.spec.startTimeoutMs} ms`);
    }
    return pid;
  }

  async logTail(lines = 20): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.split('\n').slice(-lines - 1).join('\n');
  }

  private async record(): Promise<AppRecord | null> {
    try {
      return JSON.parse(await readFile(this.recordFile, 'utf8')) as AppRecord;
    } catch {
      return null;
    }
  }
}

/** The recorded process still runs and is the app, not a stranger that took over its pid. */
async function isRecordedApp(record: AppRecord, command?: string[]): Promise<boolean> {
  if (record.identity) return stillRunning(record.identity);
  const now = await identify(record.pid);
  return now !== undefined && (command === undefined || looksLike(now.cmdline, command));
}

/** For records without an identity: the command line ends with the command's arguments and names its program. */
function looksLike(cmdline: string[], command: string[]): boolean {
  const [program, ...args] = command;
  if (program === undefined || cmdline.length < command.length) return false;
  const tail = cmdline.slice(cmdline.length - args.length);
  const base = path.basename(program);
  return args.every((arg, i) => tail[i] === arg) && cmdline.slice(0, cmdline.length - args.length).some((part) => path.basename(part) === base);
}

/** Stops an app recorded under `root` without an agent: used to clean up local stacks. */
export async function stopRecordedApp(root: string): Promise<void> {
  const record = await readFile(path.join(root, 'app.json'), 'utf8')
    .then((text) => JSON.parse(text) as AppRecord)
    .catch(() => null);
  if (!record || !(await isRecordedApp(record))) return;
  signalGroup(record.pid, 'SIGTERM');
  if (!(await waitUntil(() => isRecordedApp(record).then((alive) => !alive), 5_000, 50))) signalGroup(record.pid, 'SIGKILL');
  await sleep(0);
}
