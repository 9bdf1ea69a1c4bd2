// A host that refuses connections or does not resolve (an artifact server, a git remote) is retried
// for a bounded time, not the activity's whole budget. Each attempt fails with a message that names
// the host, the attempt and the last error (Temporal keeps it as the pending activity's last failure,
// which `gantry status`, the progress view and the Web UI show); past the bound the failure is final.
// The clock starts at the activity's first schedule, or at the last time bytes flowed (a heartbeat
// with `progressAt`), so a long download that loses its server late gets the whole bound again.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { failureTypes } from '../lib/core/failure-types';
import { formatDuration } from '../lib/config/duration';

export const DEFAULT_UNREACHABLE_TIMEOUT_MS = 180_000;

const unreachableCodes = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);
/** What git and curl print for the same failures. */
const unreachableText = /Connection refused|Could not resolve host|Name or service not known|Temporary failure in name resolution|Network is unreachable|No route to host|Connection timed out|Failed to connect/i;

/** True when `err` (or an error it wraps) says the host could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && unreachableCodes.has(code)) return true;
    if (unreachableText.test(e.message)) return true;
  }
  return false;
}

/** The innermost message: fetch's "fetch failed" hides the "connect ECONNREFUSED 127.0.0.1:9" that says why. */
export function rootMessage(err: unknown): string {
  const messages: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) messages.push(e.message);
  return messages.length > 1 ? `${messages[0]} (${messages[messages.length - 1]})` : (messages[0] ?? String(err));
}

/**
 * Throws the failure for an unreachable `host`: retryable with attempt and last error while within
 * `timeoutMs` of the start (or of the last progress), non-retryable once past it.
 */
export function unreachable(err: unknown, what: string, host: string, timeoutMs: number = DEFAULT_UNREACHABLE_TIMEOUT_MS): never {
  const { info } = Context.current();
  const progressAt = (info.heartbeatDetails as { progressAt?: number } | undefined)?.progressAt;
  const since = Math.max(info.scheduledTimestampMs, progressAt ?? 0);
  const waited = Date.now() - since;
  const last = rootMessage(err);
  if (waited >= timeoutMs) {
    throw ApplicationFailure.nonRetryable(
      `${what}: ${host} could not be reached for ${formatDuration(Math.round(waited / 1000) * 1000)} (${info.attempt} attempts, the limit is ${formatDuration(timeoutMs)}); last error: ${last}`,
      failureTypes.hostUnreachable,
    );
  }
  throw ApplicationFailure.retryable(
    `${what}: ${host} unreachable, attempt ${info.attempt}, retrying for up to ${formatDuration(timeoutMs)} (${Math.round(waited / 1000)} s so far); last error: ${last}`,
    failureTypes.hostUnreachable,
  );
}

/** host:port of a URL, or the text itself (a git path) when it is none. */
export function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.host || parsed.pathname;
  } catch {
    return url;
  }
}
