// `gantry check <file>…`: validates environment definitions (or, with --node, node configs) offline,
// for the CI of the config repository: exit 0 when all are valid, 4 with every problem listed otherwise.
import path from 'node:path';
import { readDefinitionFile } from '../../lib/config/environment-file';
import { loadNodeConfig } from '../../lib/config/node-config';
import { GantryError } from '../../lib/core/errors';
import { ExitCode } from '../exit-codes';

export async function checkCommand(files: string[], options: { node: boolean; json: boolean }): Promise<number> {
  const results = await Promise.all(
    files.map(async (file) => {
      try {
        if (options.node) {
          const config = await loadNodeConfig(file);
          return { file, ok: true as const, summary: `node ${config.node} of ${config.environment}` };
        }
        const { environment, sha256 } = await readDefinitionFile(file);
        const stem = path.basename(file).replace(/\.ya?ml$/, '');
        if (stem !== environment.name) return { file, ok: false as const, error: `name: "${environment.name}" must match the file name ("${stem}.yaml")` };
        return { file, ok: true as const, summary: `environment ${environment.name}: ${environment.nodes.length} nodes, sha256 ${sha256}` };
      } catch (err) {
        if (err instanceof GantryError) return { file, ok: false as const, error: err.message };
        throw err;
      }
    }),
  );
  if (options.json) console.log(JSON.stringify(results));
  else {
    for (const r of results) {
      if (r.ok) console.log(`ok  ${r.file}: ${r.summary}`);
      else console.error(`bad ${r.error}`);
    }
  }
  return results.every((r) => r.ok) ? ExitCode.ok : ExitCode.rejected;
}
