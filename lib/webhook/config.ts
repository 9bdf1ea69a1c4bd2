// The `gantry webhook` config file: the shared secret GitHub signs with, and routes from a repository's
// events to an environment. Validated whole at start so a typo fails before any event arrives.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { describeIssues, duration, identifier, secretRef } from '../config/environment-schema';
import { strictObject } from '../config/strict';
import { InputError } from '../core/errors';

const routeSchema = strictObject({
    /** owner/name, as in the event's repository.full_name. */
    repository: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'expected owner/name, e.g. acme/shop'),
    /** push: deploy when the tag is pushed (the workflow still checks CI when the environment asks);
     * check_suite: deploy when a check suite on the tagged commit completes successfully. */
    event: z.enum(['push', 'check_suite']).default('push'),
    /** The environment's name; the orchestrator's own definition decides everything else (and checks the tag again). */
    environment: identifier,
    /** Only tags matching this glob start a deployment (default: any). */
    tagPattern: z.string().min(1).default('*'),
    /** check_suite: the repository (URL or path) whose tags say which release a commit is. */
    remote: z.string().min(1).optional(),
    /** URL template of the checksum file CI publishes beside the artifact (`sha256sum` output). */
    sha256: z.string().includes('{release}', { message: 'must contain {release}, e.g. https://artifacts.example.com/shop-{release}.tgz.sha256' }),
  })
  .superRefine((route, ctx) => {
    if (route.event === 'check_suite' && !route.remote) ctx.addIssue({ code: 'custom', path: ['remote'], message: 'check_suite routes need the remote whose tags name releases' });
  });

export const webhookConfigSchema = strictObject({
    /** The webhook's secret as set in GitHub; read from the environment or a file, never written here. */
    secret: secretRef('secret'),
    /** Larger bodies are refused with 413 before they are read in full. */
    maxBodyBytes: z.number().int().min(1024).max(26_214_400).default(1_048_576),
    /** A delivery whose event happened longer ago than this is refused (a replayed or long-delayed delivery); deploy it by hand. */
    maxDeliveryAge: duration.default(3_600_000),
    routes: z.array(routeSchema).min(1, 'add at least one route: repository, environment, sha256'),
  });

export type WebhookConfig = z.output<typeof webhookConfigSchema>;
export type WebhookRoute = WebhookConfig['routes'][number];

export async function loadWebhookConfig(file: string): Promise<WebhookConfig> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    throw new InputError(`cannot read webhook config ${file}: ${(err as Error).message}`);
  }
  const parsed = webhookConfigSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`webhook config ${file} is invalid:\n${describeIssues(parsed.error)}`);
  const base = path.dirname(path.resolve(file));
  const config = parsed.data;
  return {
    ...config,
    secret: config.secret.fromFile ? { fromFile: path.resolve(base, config.secret.fromFile) } : config.secret,
    routes: config.routes.map((route) => ({ ...route, ...(route.remote && !/^[a-z][a-z0-9+.-]*:\/\/|^[^/]+@[^:]+:/i.test(route.remote) ? { remote: path.resolve(base, route.remote) } : {}) })),
  };
}
