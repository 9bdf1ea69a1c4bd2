// `npm run build`: the production build in dist/ — the CLI compiled to one JavaScript module (our
// code bundled by esbuild; node_modules stay external) and both workflow bundles prebuilt, so a
// production worker starts without tsx and without bundling. devkit/ and the tests are left out:
// `gantry demo` needs a checkout.
import { bundleWorkflowCode } from '@temporalio/worker';
import { build } from 'esbuild';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLES, bundleOptions } from '../workers/workflow-bundle';
import { FAILURE_CONVERTER_PATH } from '../client/data-converter';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** `--out <dir>`: somewhere else than dist/ (the tests build into a scratch folder). */
const outAt = process.argv.indexOf('--out');
const DIST = outAt > 0 ? path.resolve(process.argv[outAt + 1]!) : path.join(ROOT, 'dist');

async function main(): Promise<void> {
  const started = Date.now();
  await rm(DIST, { recursive: true, force: true });
  await mkdir(path.join(DIST, 'workflows'), { recursive: true });
  const result = await build({
    entryPoints: [path.join(ROOT, 'cli/main.ts')],
    outfile: path.join(DIST, 'gantry.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    // The demo (and through it the devkit) is loaded lazily and only from a checkout.
    external: ['./commands/demo.ts'],
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
  });
  const sources = Object.keys(result.metafile.inputs).filter((f) => !f.includes('node_modules'));
  const leaked = sources.filter((f) => /^(devkit|test|scripts)\//.test(f));
  if (leaked.length > 0) throw new Error(`the production build must not contain ${leaked.join(', ')}`);
  for (const name of Object.keys(BUNDLES) as (keyof typeof BUNDLES)[]) {
    const { code } = await bundleWorkflowCode(bundleOptions(name));
    await writeFile(path.join(DIST, 'workflows', `${name}.js`), code);
  }
  // Loaded by path at run time (client/data-converter.ts looks beside the compiled CLI).
  await copyFile(FAILURE_CONVERTER_PATH, path.join(DIST, path.basename(FAILURE_CONVERTER_PATH)));
  console.error(`build: ${path.relative(process.cwd(), DIST) || '.'}/gantry.mjs (${sources.length} source files) and ${Object.keys(BUNDLES).length} workflow bundles in ${Date.now() - started} ms`);
}

main().catch((err: unknown) => {
  console.error('build:', err);
  process.exit(1);
});
