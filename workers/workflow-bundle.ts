// The workflow bundles. A production build (npm run build) ships them prebuilt beside the compiled
// CLI, in dist/workflows/; from a checkout each is built once per version of the workflow code and
// kept in a cache, so a restarted worker (after a crash, say) polls again in seconds.
import { bundleWorkflowCode, type Logger } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setting } from '../lib/config/settings';
import { FAILURE_CONVERTER_PATH } from '../client/data-converter';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The deployment workflow, and the fleet's child workflows (a bundle without zod: see workflows/fleet/index.ts). */
export const BUNDLES = { deployment: 'deployment/index.ts', fleet: 'fleet/index.ts' } as const;

/** Everything the bundle is made of: workflow and lib sources, and the locked dependency versions. */
async function sourceHash(): Promise<string> {
  const hash = createHash('sha256');
  for (const dir of ['workflows', 'lib']) {
    const files = (await readdir(path.join(ROOT, dir), { recursive: true })).filter((f) => f.endsWith('.ts')).sort();
    for (const file of files) hash.update(file).update(await readFile(path.join(ROOT, dir, file)));
  }
  hash.update(await readFile(FAILURE_CONVERTER_PATH));
  hash.update(await readFile(path.join(ROOT, 'package-lock.json')).catch(() => Buffer.alloc(0)));
  return hash.digest('hex').slice(0, 24);
}

/** Every bundle is built with the failure converter the workers use, so workflow failures are encrypted too. */
export function bundleOptions(bundle: keyof typeof BUNDLES, logger?: Logger) {
  return { workflowsPath: path.join(ROOT, 'workflows', BUNDLES[bundle]), failureConverterPath: FAILURE_CONVERTER_PATH, ...(logger ? { logger } : {}) };
}

export interface Bundles {
  deployment: { code: string };
  fleet: { code: string };
}

/** Where a production build keeps its prebuilt bundles: beside the compiled module that runs this code. */
const PREBUILT = new URL('./workflows/', import.meta.url);

export async function workflowBundle(logger: Logger, bundle: keyof typeof BUNDLES = 'deployment'): Promise<{ code: string }> {
  const prebuilt = await readFile(new URL(`${bundle}.js`, PREBUILT), 'utf8').catch(() => undefined);
  if (prebuilt) return { code: prebuilt };
  const cacheDir = path.join(setting('XDG_CACHE_HOME') ?? path.join(os.homedir(), '.cache'), 'gantry', 'workflow-bundles');
  const file = path.join(cacheDir, `${await sourceHash()}-${bundle}.js`);
  const cached = await readFile(file, 'utf8').catch(() => undefined);
  if (cached) return { code: cached };
  const { code } = await bundleWorkflowCode(bundleOptions(bundle, logger));
  await mkdir(cacheDir, { recursive: true });
  // Written aside and renamed: two workers starting together never read half a bundle.
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, code);
  await rename(partial, file);
  return { code };
}
