// The local stack's payload encryption: fresh keys and a token in the stack's folder, and
// `gantry codec-server` as a real process for the dev server's Web UI (--ui-codec-endpoint).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '../../lib/core/wait';
import { startProcess, type ManagedProcess } from './child-process';
import { freePort } from './ports';

const CLI = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/** Writes one key file per id (newest first) and returns the GANTRY_CODEC_KEYS value naming them. */
export async function createCodecKeys(dir: string, ids: string[] = ['local-1']): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const entries = [];
  for (const id of ids) {
    const file = path.join(dir, `${id}.key`);
    await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    entries.push(`${id}=file:${file}`);
  }
  return entries.join(',');
}

export interface LocalCodecServer {
  url: string;
  token: string;
  /** What the Web UI is given: the URL with the token as its first path segment. */
  uiEndpoint: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** `gantry codec-server` for the UI at `uiOrigin`, with the keys of `env` (GANTRY_CODEC_KEYS). */
export async function startLocalCodecServer(options: { dir: string; uiOrigin: string; env: NodeJS.ProcessEnv }): Promise<LocalCodecServer> {
  const token = randomBytes(24).toString('hex');
  const tokenFile = path.join(options.dir, 'codec.token');
  await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  const port = await freePort();
  const proc = startProcess(process.execPath, ['--import', 'tsx', CLI, 'codec-server', '--listen', `127.0.0.1:${port}`, '--origin', options.uiOrigin, '--token-file', tokenFile], {
    logFile: path.join(options.dir, 'codec-server.log'),
    env: options.env,
  });
  const url = `http://127.0.0.1:${port}`;
  const up = await waitUntil(async () => proc.exited() || (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)), 30_000, 100);
  if (!up || proc.exited()) {
    await proc.stop();
    throw new Error(`gantry codec-server did not start:\n${await proc.logTail()}`);
  }
  return { url, token, uiEndpoint: `${url}/${token}`, process: proc, stop: () => proc.stop() };
}
