// GitHub webhook deliveries: the X-Hub-Signature-256 check and the two events Gantry acts on, parsed
// with zod from their documented shapes (only the fields used).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { describeIssues } from '../config/environment-schema';

/** True when `header` is `sha256=<hex HMAC-SHA256 of body under secret>`; compared in constant time. */
export function signatureValid(body: Buffer, header: string | undefined, secret: string): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const repository = z.object({ full_name: z.string().min(1) });
const sender = z.object({ login: z.string().min(1) });
const sha = z.string().regex(/^[0-9a-f]{40}$/, 'expected a 40-digit commit sha');

const pushSchema = z.object({
  ref: z.string().min(1),
  deleted: z.boolean().default(false),
  // When the push happened (epoch seconds; GitHub sends it, a redelivery repeats it) and the commit the tag named then.
  repository: repository.extend({ pushed_at: z.number().int().positive().optional() }),
  head_commit: z.object({ id: sha }).nullish(),
  sender,
});
const checkSuiteSchema = z.object({
  action: z.string().min(1),
  check_suite: z.object({ conclusion: z.string().nullable(), head_sha: sha, head_branch: z.string().nullable().optional(), updated_at: z.iso.datetime({ offset: true }).optional() }),
  repository,
  sender,
});

/** What an event asks for: a tag (push) or a commit whose tag is to be found (check_suite), or nothing. */
export type Trigger =
  /** `commit`: what the tag named when it was pushed, so a tag moved since is caught; `at`: when (ms). */
  | { kind: 'tag'; repository: string; tag: string; sender: string; commit?: string; at?: number }
  | { kind: 'commit'; repository: string; commit: string; sender: string; at?: number }
  | { kind: 'ignore'; reason: string };

export class MalformedEvent extends Error {
  override readonly name = 'MalformedEvent';
}

export function triggerOf(event: string, body: Buffer): Trigger {
  if (event !== 'push' && event !== 'check_suite') return { kind: 'ignore', reason: `event ${event} is not one Gantry acts on (push, check_suite)` };
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new MalformedEvent(`body is not JSON (${(err as Error).message}); set the webhook's content type to application/json`);
  }
  if (event === 'push') {
    const push = parseOrThrow(pushSchema, json, event);
    if (!push.ref.startsWith('refs/tags/')) return { kind: 'ignore', reason: `${push.ref} is not a tag` };
    if (push.deleted) return { kind: 'ignore', reason: `${push.ref} was deleted` };
    return {
      kind: 'tag',
      repository: push.repository.full_name,
      tag: push.ref.slice('refs/tags/'.length),
      sender: push.sender.login,
      ...(push.head_commit ? { commit: push.head_commit.id } : {}),
      ...(push.repository.pushed_at ? { at: push.repository.pushed_at * 1000 } : {}),
    };
  }
  const suite = parseOrThrow(checkSuiteSchema, json, event);
  if (suite.action !== 'completed') return { kind: 'ignore', reason: `check_suite ${suite.action}, not completed` };
  if (suite.check_suite.conclusion !== 'success') return { kind: 'ignore', reason: `check suite concluded ${suite.check_suite.conclusion ?? 'nothing'}, not success` };
  return {
    kind: 'commit',
    repository: suite.repository.full_name,
    commit: suite.check_suite.head_sha,
    sender: suite.sender.login,
    ...(suite.check_suite.updated_at ? { at: Date.parse(suite.check_suite.updated_at) } : {}),
  };
}

function parseOrThrow<T>(schema: z.ZodType<T>, json: unknown, event: string): T {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new MalformedEvent(`not a ${event} event: ${describeIssues(parsed.error).split('\n').join('; ')}`);
  return parsed.data;
}
