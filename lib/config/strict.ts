// Strict objects for every config schema: an unknown key is an error that names the nearest valid
// key, so a misspelt setting never silently falls back to its default.
import { distance } from 'fastest-levenshtein';
import { z } from 'zod';

/** The valid key closest to `key`, when it is close enough to be a likely typo. */
export function nearestKey(key: string, valid: readonly string[]): string | undefined {
  let best: { key: string; d: number } | undefined;
  for (const candidate of valid) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || d < best.d) best = { key: candidate, d };
  }
  return best && best.d <= Math.max(2, Math.floor(best.key.length / 3)) ? best.key : undefined;
}

/** One line per unknown key, "<key>: unknown key; did you mean <valid>?"; describeIssues prefixes the path. */
export function unknownKeysMessage(keys: readonly string[], valid: readonly string[]): string {
  return keys
    .map((key) => {
      const near = nearestKey(key, valid);
      return `${key}: unknown key; ${near ? `did you mean ${near}?` : `valid keys: ${valid.join(', ')}`}`;
    })
    .join('\n');
}

export function strictObject<T extends z.ZodRawShape>(shape: T) {
  const valid = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? unknownKeysMessage(issue.keys, valid) : undefined),
  });
}
