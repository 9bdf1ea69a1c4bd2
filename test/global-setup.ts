// One Temporal server for the whole run (the dev server on a SQLite file, unless TEMPORAL_ADDRESS points
// at one) and one throwaway PostgreSQL cluster. Tools come from the same setup script the demo and CI use.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startPostgres } from '../devkit/local/postgres-server';
import { pickPort, startDevServer } from '../devkit/local/temporal-dev-server';
import { createCodecKeys, startLocalCodecServer } from '../devkit/local/codec';
import { startReaperSession } from '../devkit/local/reaper';
import { ensureChromium, setup } from '../devkit/setup';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalPath: string;
    /** The Web UI of the tests' Temporal server ('' when TEMPORAL_ADDRESS names a server without TEMPORAL_UI_URL). */
    temporalUiUrl: string;
    haproxyPath: string;
    chromiumPath: string;
    /** The Web UI's codec server and its token. */
    codecServerUrl: string;
    codecToken: string;
    /** Superuser URL of a throwaway PostgreSQL cluster shared by the run; each test makes its own database. */
    postgresUrl: string;
  }
}

export default async function globalSetup(project: TestProject) {
  // Whatever ends this run (Ctrl-C, a CI time-out), no server, agent or app outlives it.
  startReaperSession();
  const tools = setup((line) => console.error(`setup: ${line}`));
  project.provide('haproxyPath', tools.haproxy);
  project.provide('temporalPath', tools.temporal);
  project.provide('chromiumPath', ensureChromium((line) => console.error(`setup: ${line}`)));
  const postgres = await startPostgres({ binDir: tools.postgresBin, dir: await mkdtemp(path.join(os.tmpdir(), 'gantry-pg-')) });
  project.provide('postgresUrl', postgres.url);
  // Every process of the run encrypts payloads: a rotated keyring, newest first (test-1 is the old key).
  const codecDir = await mkdtemp(path.join(os.tmpdir(), 'gantry-codec-'));
  process.env.GANTRY_CODEC_KEYS = await createCodecKeys(codecDir, ['test-2', 'test-1']);
  // The codec server needs only the keys, so it runs whichever Temporal the tests use; the Web UI's
  // origin is the only one it answers browsers from.
  const uiPort = process.env.TEMPORAL_ADDRESS ? 0 : await pickPort();
  const uiOrigin = process.env.TEMPORAL_ADDRESS ? new URL(process.env.TEMPORAL_UI_URL || 'http://127.0.0.1:8233').origin : `http://127.0.0.1:${uiPort}`;
  const codec = await startLocalCodecServer({ dir: codecDir, uiOrigin, env: process.env });
  project.provide('codecServerUrl', codec.url);
  project.provide('codecToken', codec.token);
  let stopTemporal = async () => {};
  if (process.env.TEMPORAL_ADDRESS) {
    project.provide('temporalAddress', process.env.TEMPORAL_ADDRESS);
    project.provide('temporalUiUrl', process.env.TEMPORAL_UI_URL ?? '');
  } else {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-temporal-'));
    // A build that is no longer current is reported drained a second after its last pinned run ends
    // (the defaults wait minutes); safe on the dev server, whose visibility is written at once.
    const drainage = ['matching.wv.VersionDrainageStatusRefreshInterval="1s"', 'matching.wv.VersionDrainageStatusVisibilityGracePeriod="1s"'];
    const server = await startDevServer({ temporalPath: tools.temporal, dir, uiPort, uiCodecEndpoint: codec.uiEndpoint, extraArgs: drainage.flatMap((v) => ['--dynamic-config-value', v]) }).catch(
      async (err: unknown) => {
        await codec.stop();
        throw err;
      },
    );
    project.provide('temporalAddress', server.address);
    project.provide('temporalUiUrl', server.uiUrl);
    stopTemporal = async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  return async () => {
    await stopTemporal();
    await codec.stop();
    await postgres.stop();
    await rm(codecDir, { recursive: true, force: true });
  };
}
