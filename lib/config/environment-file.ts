// Loads an environment file (YAML), validates it and resolves relative paths against the file's folder.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describeIssues, environmentSchema, type Environment } from './environment-schema';
import { InputError } from '../core/errors';

const isUrl = (value: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
const isHostPort = (value: string) => /^[^/]+:\d+$/.test(value);

export async function loadEnvironmentFile(file: string): Promise<Environment> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read environment file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(`environment file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InputError(`environment file ${file} is invalid:\n${indent(describeIssues(parsed.error))}`);
  }
  return resolvePaths(parsed.data, path.dirname(path.resolve(file)));
}

function resolvePaths(env: Environment, base: string): Environment {
  const resolve = (p: string) => path.resolve(base, p);
  const artifactUrl = env.artifact.url;
  return {
    ...env,
    nodes: env.nodes.map((node) => ({ ...node, root: resolve(node.root) })),
    loadBalancer: {
      ...env.loadBalancer,
      socket: isHostPort(env.loadBalancer.socket) ? env.loadBalancer.socket : resolve(env.loadBalancer.socket),
    },
    source: {
      ...env.source,
      remote: isUrl(env.source.remote) || /^[^/]+@[^:]+:/.test(env.source.remote) ? env.source.remote : resolve(env.source.remote),
      ...(env.source.allowedSignersFile ? { allowedSignersFile: resolve(env.source.allowedSignersFile) } : {}),
      ...(env.source.gpgHome ? { gpgHome: resolve(env.source.gpgHome) } : {}),
    },
    notifications: {
      ...env.notifications,
      channels: env.notifications.channels.map((c) => ({
        ...c,
        url: c.url.fromFile ? { fromFile: resolve(c.url.fromFile) } : c.url,
        ...(c.secret?.fromFile ? { secret: { fromFile: resolve(c.secret.fromFile) } } : {}),
      })),
    },
    artifact: artifactUrl && !isUrl(artifactUrl) ? { url: `file://${resolve(artifactUrl)}` } : env.artifact,
  };
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
