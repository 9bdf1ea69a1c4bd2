// A throwaway PostgreSQL cluster on a free loopback port, in a folder of its own, for tests and the
// demo. initdb refuses to run as root, so as root the server programs run as the `postgres` user.
import { execFile } from 'node:child_process';
import { chown, mkdir, rm } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports';
import { reapLater } from './reaper';

const run = promisify(execFile);

export interface PostgresServer {
  port: number;
  /** Superuser URL of the `postgres` database. */
  url: string;
  urlFor(database: string): string;
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

async function asServerUser(binDir: string, program: string, args: string[]): Promise<string> {
  const file = path.join(binDir, program);
  const [cmd, cmdArgs] = userInfo().uid === 0 ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
  try {
    return (await run(cmd, cmdArgs, { timeout: 60_000 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${program} failed: ${(e.stderr || e.stdout || e.message).trim()}`);
  }
}

export async function startPostgres(options: { binDir: string; dir: string }): Promise<PostgresServer> {
  const data = path.join(options.dir, 'data');
  await mkdir(data, { recursive: true });
  if (userInfo().uid === 0) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const uid = Number(stdout.trim());
    await chown(options.dir, uid, -1);
    await chown(data, uid, -1);
  }
  await asServerUser(options.binDir, 'initdb', ['--pgdata', data, '--username', 'gantry', '--auth', 'trust', '--no-sync', '--encoding', 'UTF8']);
  const port = await freePort();
  // Listen on loopback only; the unix socket stays inside the cluster's folder.
  const serverOptions = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${data} -c fsync=off`;
  await asServerUser(options.binDir, 'pg_ctl', ['--pgdata', data, '--options', serverOptions, '--log', path.join(data, 'server.log'), '--wait', 'start']);
  reapLater({ kind: 'postgres', data });
  const urlFor = (database: string) => `postgres://gantry@127.0.0.1:${port}/${database}`;
  return {
    port,
    url: urlFor('postgres'),
    urlFor,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid database name ${name}`);
      await run('psql', ['--no-psqlrc', '--quiet', '--dbname', urlFor('postgres'), '--command', `CREATE DATABASE ${name}`]);
      return urlFor(name);
    },
    async stop() {
      await asServerUser(options.binDir, 'pg_ctl', ['--pgdata', data, '--mode', 'immediate', '--wait', 'stop']).catch(() => undefined);
      await rm(options.dir, { recursive: true, force: true });
    },
  };
}
