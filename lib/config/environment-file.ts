// Loads an environment definition (YAML), validates it and resolves relative paths against the
// file's folder; the orchestrator keeps them in one directory it owns (GANTRY_ENVIRONMENTS).
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describeIssues, environmentSchema, type Environment, type Identity } from './environment-schema';
import { InputError } from '../core/errors';
import { readWithBases } from './extends';

const isUrl = (value: string) => /^[a-z][a-z0-9+.-]*:\/\//i.test(value);
/** host:port of a TCP stats socket (or another scheme:name), not a path. */
const isHostPort = (value: string) => /^[^/]+:[^/]+$/.test(value);

export interface Definition {
  environment: Environment;
  /** sha256 of the file's bytes: what a deployment ran under, pinned in its history and result. */
  sha256: string;
  file: string;
}

export async function loadEnvironmentFile(file: string): Promise<Environment> {
  return (await readDefinitionFile(file)).environment;
}

export async function readDefinitionFile(file: string): Promise<Definition> {
  const { raw, sha256, files } = await readWithBases(file);
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success) {
    const bases = files.length > 1 ? ` (with ${files.slice(1).map((f) => path.basename(f)).join(', ')})` : '';
    throw new InputError(`environment file ${file}${bases} is invalid:\n${indent(describeIssues(parsed.error))}`);
  }
  const environment = resolvePaths(parsed.data, path.dirname(path.resolve(file)));
  if (environment.identity) await checkAllowedSignersPin(file, environment.identity);
  return { environment, sha256, file };
}

/** A definition whose allowed-signers file is missing or changed is refused at once (and again at every signature check). */
async function checkAllowedSignersPin(file: string, identity: Identity): Promise<void> {
  const bytes = await readFile(identity.allowedSigners).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(`environment file ${file} is invalid:\n  identity.allowedSigners: cannot read ${identity.allowedSigners} (${err.code ?? err.message})`);
  });
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== identity.allowedSignersSha256) {
    throw new InputError(
      `environment file ${file} is invalid:\n  identity.allowedSignersSha256: ${identity.allowedSigners} has sha256 ${actual}, not the pinned ${identity.allowedSignersSha256}; review the change, then pin the new sha256`,
    );
  }
}

const DEFINITION_FILE = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})\.ya?ml$/;

/** The definition of environment `name` in `dir` (<name>.yaml); its `name:` must say the same. */
export async function readDefinition(dir: string, name: string): Promise<Definition> {
  const files = await readdir(dir).catch((err: Error) => {
    throw new InputError(`cannot read the environments directory ${dir}: ${err.message}`);
  });
  const file = files.find((f) => DEFINITION_FILE.exec(f)?.[1] === name);
  if (!file) {
    const known = files.map((f) => DEFINITION_FILE.exec(f)?.[1]).filter((n): n is string => n !== undefined);
    throw new UnknownEnvironment(`no environment "${name}" is defined on the orchestrator (${dir} has: ${known.join(', ') || 'none'})`);
  }
  const definition = await readDefinitionFile(path.join(dir, file));
  if (definition.environment.name !== name) {
    throw new InputError(`environment file ${definition.file} is invalid:\n  name: "${definition.environment.name}" must match its file name ("${name}")`);
  }
  return definition;
}

export interface DefinitionSummary {
  name: string;
  file: string;
  sha256?: string;
  nodes?: number;
  error?: string;
}

/** Every definition in `dir`, the invalid ones with their error. */
export async function listDefinitions(dir: string): Promise<DefinitionSummary[]> {
  const files = (await readdir(dir)).filter((f) => DEFINITION_FILE.test(f)).sort();
  return Promise.all(
    files.map(async (f) => {
      const name = DEFINITION_FILE.exec(f)![1]!;
      try {
        const d = await readDefinition(dir, name);
        return { name, file: d.file, sha256: d.sha256, nodes: d.environment.nodes.length };
      } catch (err) {
        return { name, file: path.join(dir, f), error: (err as Error).message };
      }
    }),
  );
}

export class UnknownEnvironment extends InputError {
  override readonly name = 'UnknownEnvironment';
}

function resolvePaths(env: Environment, base: string): Environment {
  const resolve = (p: string) => path.resolve(base, p);
  const artifactUrl = env.artifact.url;
  return {
    ...env,
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
    artifact: artifactUrl && !isUrl(artifactUrl) ? { ...env.artifact, url: `file://${resolve(artifactUrl)}` } : env.artifact,
    ...(env.identity
      ? {
          identity: {
            ...env.identity,
            allowedSigners: resolve(env.identity.allowedSigners),
            ...(env.identity.revokedKeys ? { revokedKeys: resolve(env.identity.revokedKeys) } : {}),
          },
        }
      : {}),
  };
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
