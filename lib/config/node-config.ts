// A node's own configuration, read by its agent at start: what this node runs (the app, the migration
// and backup commands, their environment), where it may download artifacts from, and its folder.
// Nothing that arrives on the agent's task queue can add to it: activities name a release or a
// phase, and the agent looks the command up here.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InputError } from '../core/errors';
import { describeIssues, duration, envName, hostPort, identifier, secretRef } from './environment-schema';
import { strictObject } from './strict';

const argv = z.array(z.string().min(1)).min(1, 'expected a command as an array, e.g. ["node", "server.js"]');
const args = z.array(z.string());
const envVars = z.record(envName, z.string());

const SIZE_UNITS = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 } as const;
const SIZE_HINT = 'expected a size such as "512MiB" or "4GiB", or a number of bytes';
/** A size as "4GiB"/"512MiB" or a number of bytes; parsed to bytes. */
const byteSize = z.union([z.number().int().positive(), z.string()], { error: SIZE_HINT }).transform((value, ctx) => {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)$/.exec(value.trim());
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `${SIZE_HINT}, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return Math.round(Number(match[1]) * SIZE_UNITS[match[2] as keyof typeof SIZE_UNITS]);
});

export const nodeConfigSchema = strictObject({
  /** The environment and node this agent serves: its task queue is gantry-agent/<environment>/<node>. */
  environment: identifier,
  node: identifier,
  /** The agent's folder: releases/, current, shared/, backups/. Relative to this file. */
  root: z.string().min(1),
  /** Staged releases kept for rollbacks (the current one is always kept). */
  keepReleases: z.number().int().min(1).max(100).default(5),
  app: strictObject({
    /** argv run from the release folder; no shell. */
    command: argv,
    env: envVars.default({}),
    /** host:port the app listens on; PORT is set from it unless env sets PORT. */
    address: hostPort,
    stopSignal: z.enum(['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP']).default('SIGTERM'),
    stopGrace: duration.default(10_000),
    startTimeout: duration.default(30_000),
  }),
  /**
   * Variables read once at agent start (from the agent's environment or a file) and given to the app
   * and the commands; their values are removed from any output the agent reports.
   */
  secrets: z.record(envName, secretRef('secret')).default({}),
  artifacts: strictObject({
    /** URL prefixes an artifact may come from, e.g. "https://artifacts.example.com/shop/"; anything else is refused. */
    allowedSources: z.array(z.string().regex(/^(https?|file):\/\/./, 'expected a URL prefix (https://, http:// or file://)')).min(1, 'name at least one source'),
    /** An archive with more entries, or that unpacks to more, is refused before anything is written. */
    maxEntries: z.number().int().positive().default(200_000),
    maxUnpackedSize: byteSize.default(4 * 1024 ** 3),
  }),
  migrations: strictObject({
    /** argv run from the new release's folder; the phases' arguments are appended. */
    command: argv,
    expand: args.min(1, 'expected the arguments that apply the expand migrations'),
    contract: args.optional(),
    /** Arguments that undo the expand (onRollback: down). */
    down: args.optional(),
    /** Writes a backup to $BACKUP_FILE; default for a postgres:// DATABASE_URL: pg_dump in custom format. */
    backup: argv.optional(),
    /** Backups kept on this node (the newest N), and a folder (other storage, mounted) each is copied to and pruned in as well. */
    backups: strictObject({
      keep: z.number().int().min(1).max(1000).default(5),
      copyTo: z.string().min(1).optional(),
    }).default({ keep: 5 }),
    /** Also for backups and restores: DATABASE_URL here is the database they use, as the migrations do. */
    env: envVars.default({}),
  }).optional(),
});

export type NodeConfigFile = z.output<typeof nodeConfigSchema>;

export async function loadNodeConfig(file: string): Promise<NodeConfigFile> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new InputError(`cannot read node config ${file}: ${err.message}`);
  });
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InputError(`node config ${file} is not valid YAML: ${(err as Error).message}`);
  }
  const parsed = nodeConfigSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`node config ${file} is invalid:\n${describeIssues(parsed.error).replace(/^/gm, '  ')}`);
  const base = path.dirname(path.resolve(file));
  const m = parsed.data.migrations;
  return {
    ...parsed.data,
    root: path.resolve(base, parsed.data.root),
    ...(m?.backups.copyTo ? { migrations: { ...m, backups: { ...m.backups, copyTo: path.resolve(base, m.backups.copyTo) } } } : {}),
  };
}

/** Whether `url` lies under one of the allowed prefixes (compared as parsed URLs, so "..", case and ports cannot sneak past). */
export function isAllowedSource(url: string, prefixes: readonly string[]): boolean {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return false;
  }
  return prefixes.some((prefix) => {
    const allowed = new URL(prefix);
    return target.origin === allowed.origin && target.protocol === allowed.protocol && target.pathname.startsWith(allowed.pathname) && target.username === '' && target.password === '';
  });
}
