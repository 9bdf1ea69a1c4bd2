// Starts `temporal server start-dev` on free 127.0.0.1 ports with a SQLite file and Gantry's search
// attributes, waits until it serves, and stops it.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { searchAttributes } from '../../workflows/api';
import { waitUntil } from '../../lib/core/wait';
import { startProcess, type ManagedProcess } from './child-process';
import { freePort, isPortFree } from './ports';

const execFileAsync = promisify(execFile);


export interface DevServer {
  address: string;
  uiUrl: string;
  namespace: string;
  dbFile: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  temporalPath: string;
  dir: string;
  /** Preferred ports (the CLI's defaults in the demo); free ones are picked when taken or unset. */
  port?: number;
  uiPort?: number;
  startTimeoutMs?: number;
  /** false: keep everything in memory (benchmarks); the tests and the demo use a SQLite file. */
  persist?: boolean;
  /** The Web UI's remote codec (a codec server allowing the UI's origin, so uiPort must be fixed). */
  uiCodecEndpoint?: string;
  /** More `temporal server start-dev` flags, e.g. --dynamic-config-value. */
  extraArgs?: string[];
}

/** Free ports are picked before the server binds them; another process may take one in between, so retry. */
export async function startDevServer(options: DevServerOptions, tries = 3): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      // A codec server allows only the UI's origin: keep the UI port it was told.
      return await startOnce(attempt === 1 ? options : { ...options, port: undefined, uiPort: options.uiCodecEndpoint ? options.uiPort : undefined });
    } catch (err) {
      if (attempt >= tries || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

/** The preferred port when it is free, else one the OS picks. */
export const pickPort = async (preferred?: number) => (preferred && (await isPortFree(preferred)) ? preferred : freePort());

async function startOnce(options: DevServerOptions): Promise<DevServer> {
  const port = await pickPort(options.port);
  const uiPort = options.uiCodecEndpoint && options.uiPort ? options.uiPort : await pickPort(options.uiPort);
  const dbFile = path.join(options.dir, 'temporal.sqlite');
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--ui-ip', '127.0.0.1',
    '--ui-port', String(uiPort),
    '--http-port', String(await freePort()),
    '--metrics-port', String(await freePort()),
    ...(options.persist === false ? [] : ['--db-filename', dbFile]),
    '--log-level', 'warn',
    ...Object.values(searchAttributes).flatMap(({ name }) => ['--search-attribute', `${name}=Keyword`]),
    ...(options.uiCodecEndpoint ? ['--ui-codec-endpoint', options.uiCodecEndpoint] : []),
    ...(options.extraArgs ?? []),
  ];
  const proc = startProcess(options.temporalPath, args, { logFile: path.join(options.dir, 'temporal.log') });
  const address = `127.0.0.1:${port}`;
  const serving = await waitUntil(
    async () => {
      if (proc.exited()) return true;
      return execFileAsync(options.temporalPath, ['operator', 'cluster', 'health', '--address', address], { timeout: 5_000 }).then(
        ({ stdout }) => stdout.includes('SERVING'),
        () => false,
      );
    },
    options.startTimeoutMs ?? 60_000,
    250,
  );
  if (!serving || proc.exited()) {
    await proc.stop();
    throw new Error(`Temporal dev server did not start on ${address}:\n${await proc.logTail()}`);
  }
  return { address, uiUrl: `http://127.0.0.1:${uiPort}`, namespace: 'default', dbFile, process: proc, stop: () => proc.stop() };
}
