// The small value types every config schema shares: durations, host:port, identifiers. Apart from the
// schemas that use them, so a schema in its own file can import them without a cycle.
import { z } from 'zod';
import { parseDuration } from './duration';

/** A duration as "10s"/"500ms"/"5m" or a number of milliseconds; parsed to milliseconds. */
const DURATION_HINT = 'expected a duration such as "500ms", "10s" or "5m", or a number of milliseconds';
export const duration = z
  .union([z.number(), z.string()], { error: DURATION_HINT })
  .transform((value, ctx) => {
    const ms = typeof value === 'number' ? value : parseDuration(value);
    if (ms === undefined || !Number.isInteger(ms) || ms < 0) {
      ctx.addIssue({ code: 'custom', message: `${DURATION_HINT}, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return ms;
  });

export const hostPort = z
  .string()
  .regex(/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:8080');

export const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'expected letters, digits, ".", "_" or "-" (at most 63)');
