// Smoke tests of a pool before it takes traffic: HTTP checks against the shadow address, each with its
// own time-out, and an optional command with SHADOW_URL in its environment. Every check reports its
// status and time; a failed one carries an excerpt of what it got, so the result says why.
import type { SmokeCheck } from '../config/blue-green-schema';
import { runCommand } from './run-command';

export interface SmokeResult {
  name: string;
  passed: boolean;
  /** The HTTP status (absent: no answer, or the command). */
  status?: number;
  durationMs: number;
  /** Why it failed, and the start of the body it got. */
  error?: string;
  excerpt?: string;
}

const EXCERPT_CHARS = 300;

export async function runSmokeCheck(baseUrl: string, check: SmokeCheck, signal?: AbortSignal): Promise<SmokeResult> {
  const started = Date.now();
  const url = new URL(check.path, baseUrl).toString();
  const timeout = AbortSignal.timeout(check.timeout);
  const done = (fields: Omit<SmokeResult, 'name' | 'durationMs'>): SmokeResult => ({ name: check.name, durationMs: Date.now() - started, ...fields });
  let response: Response;
  try {
    response = await fetch(url, {
      method: check.method,
      headers: check.headers,
      ...(check.body !== undefined ? { body: check.body } : {}),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (err) {
    const timedOut = timeout.aborted;
    return done({ passed: false, error: timedOut ? `no answer within ${check.timeout} ms` : `request failed: ${(err as Error).message}` });
  }
  const body = await response.text().catch(() => '');
  const excerpt = body.slice(0, EXCERPT_CHARS);
  const fail = (error: string) => done({ passed: false, status: response.status, error, excerpt });
  if (response.status !== check.expectStatus) return fail(`status ${response.status}, expected ${check.expectStatus}`);
  if (check.bodyContains !== undefined && !body.includes(check.bodyContains)) return fail(`body does not contain ${JSON.stringify(check.bodyContains)}`);
  if (check.json) {
    let value: unknown;
    try {
      value = fieldOf(JSON.parse(body), check.json.field);
    } catch {
      return fail(`body is not JSON (expected ${check.json.field} = ${JSON.stringify(check.json.equals)})`);
    }
    if (value !== check.json.equals) return fail(`${check.json.field} is ${JSON.stringify(value) ?? 'absent'}, expected ${JSON.stringify(check.json.equals)}`);
  }
  return done({ passed: true, status: response.status });
}

/** A dotted path into parsed JSON ("db.ok", "items.0.id"). */
function fieldOf(value: unknown, field: string): unknown {
  return field.split('.').reduce<unknown>((at, key) => (at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined), value);
}

/** The definition's smoke command, run from `cwd` with SHADOW_URL; its output's tail explains a failure. */
export async function runSmokeCommand(argv: string[], shadowUrl: string, timeoutMs: number, cwd: string, signal?: AbortSignal): Promise<SmokeResult> {
  const result = await runCommand(argv, { cwd, env: { SHADOW_URL: shadowUrl }, timeoutMs, ...(signal ? { signal } : {}) });
  const name = `command ${argv.join(' ')}`;
  if (result.exitCode === 0) return { name, passed: true, durationMs: result.durationMs };
  const error = result.timedOut ? `ran past ${timeoutMs} ms and was ended` : `exited ${result.exitCode ?? result.signal}`;
  return { name, passed: false, durationMs: result.durationMs, error, excerpt: result.tail.join('\n').slice(-EXCERPT_CHARS) };
}
