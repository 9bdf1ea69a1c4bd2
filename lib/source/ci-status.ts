// CI status of a commit. GitHub: the combined commit status and the check runs, judged against the
// environment's required checks. Responses are validated: they are external input.
import { z } from 'zod';

export interface CheckState {
  name: string;
  state: 'success' | 'pending' | 'failure';
  url?: string;
}

export type ChecksVerdict =
  | { verdict: 'pass'; checks: CheckState[] }
  | { verdict: 'fail'; failed: CheckState }
  | { verdict: 'pending'; waitingFor: string[] };

export class CiStatusError extends Error {
  override readonly name = 'CiStatusError';
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

/** GitHub's rate limit (403 with x-ratelimit-remaining: 0, or 429): ask again after `retryAfterMs`. */
export class RateLimited extends CiStatusError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message, false);
  }
}

const combinedStatus = z.object({
  statuses: z.array(z.object({ context: z.string(), state: z.enum(['error', 'failure', 'pending', 'success']), target_url: z.string().nullish() })),
});
const checkRuns = z.object({
  check_runs: z.array(
    z.object({
      id: z.number(),
      name: z.string(),
      status: z.string(),
      conclusion: z.string().nullish(),
      html_url: z.string().nullish(),
    }),
  ),
});

export interface GithubTarget {
  apiUrl: string;
  repository: string;
  commit: string;
  token?: string;
}

export async function githubChecks(target: GithubTarget, signal?: AbortSignal): Promise<CheckState[]> {
  const base = `${target.apiUrl.replace(/\/$/, '')}/repos/${target.repository}/commits/${target.commit}`;
  const [status, runs] = await Promise.all([
    getJson(`${base}/status?per_page=100`, target.token, combinedStatus, signal),
    getJson(`${base}/check-runs?per_page=100`, target.token, checkRuns, signal),
  ]);
  const checks: CheckState[] = status.statuses.map((s) => ({
    name: s.context,
    state: s.state === 'success' ? 'success' : s.state === 'pending' ? 'pending' : 'failure',
    ...(s.target_url ? { url: s.target_url } : {}),
  }));
  // A re-run adds a newer run of the same name: the newest (highest id) counts.
  const newest = new Map<string, (typeof runs.check_runs)[number]>();
  for (const run of runs.check_runs) if ((newest.get(run.name)?.id ?? -1) < run.id) newest.set(run.name, run);
  for (const run of newest.values()) {
    const state =
      run.status !== 'completed' ? 'pending' : ['success', 'neutral', 'skipped'].includes(run.conclusion ?? '') ? 'success' : 'failure';
    checks.push({ name: run.name, state, ...(run.html_url ? { url: run.html_url } : {}) });
  }
  return checks;
}

/**
 * Required checks must all succeed (a missing one is still pending); without a list, every reported one
 * must, and a commit with none reported is still waiting for its checks to appear (a push webhook can
 * arrive before CI has registered anything) unless `allowNoChecks` says the repository has no CI.
 */
export function judgeChecks(checks: CheckState[], required: string[], allowNoChecks = false): ChecksVerdict {
  if (checks.length === 0 && required.length === 0 && !allowNoChecks) return { verdict: 'pending', waitingFor: ['any check to be reported'] };
  const relevant = required.length > 0 ? checks.filter((c) => required.includes(c.name)) : checks;
  const failed = relevant.find((c) => c.state === 'failure');
  if (failed) return { verdict: 'fail', failed };
  const waitingFor = [
    ...relevant.filter((c) => c.state === 'pending').map((c) => c.name),
    ...required.filter((name) => !checks.some((c) => c.name === name)),
  ];
  if (waitingFor.length > 0) return { verdict: 'pending', waitingFor: [...new Set(waitingFor)] };
  return { verdict: 'pass', checks: relevant };
}

async function getJson<T>(url: string, token: string | undefined, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
  const timeout = AbortSignal.timeout(15_000);
  let response: Response;
  try {
    response = await fetch(url, {
      headers: {
        accept: 'application/vnd.github+json',
        'x-github-api-version': '2022-11-28',
        'user-agent': 'gantry',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (err) {
    throw new CiStatusError(`GitHub API request failed: ${(err as Error).message}`, false);
  }
  const limited = rateLimit(response);
  if (limited !== undefined) {
    await response.body?.cancel();
    throw new RateLimited(`GitHub API rate limit reached (HTTP ${response.status}); asking again in ${Math.ceil(limited / 1000)} s`, limited);
  }
  if (!response.ok) {
    const permanent = response.status === 401 || response.status === 403 || response.status === 404 || response.status === 422;
    throw new CiStatusError(`GitHub API answered ${response.status} for ${new URL(url).pathname}${permanent ? ' (check the repository name and the token)' : ''}`, permanent);
  }
  const parsed = schema.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success) throw new CiStatusError(`unexpected GitHub API response from ${new URL(url).pathname}`, false);
  return parsed.data;
}

/** How long GitHub asks us to wait, when the answer is a rate limit: retry-after (seconds), else until x-ratelimit-reset (epoch seconds); a minute if neither says. */
function rateLimit(response: Response): number | undefined {
  const remaining = response.headers.get('x-ratelimit-remaining');
  const retryAfter = response.headers.get('retry-after');
  const limited = response.status === 429 || (response.status === 403 && (remaining === '0' || retryAfter !== null));
  if (!limited) return undefined;
  if (retryAfter !== null && /^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
  const reset = Number(response.headers.get('x-ratelimit-reset'));
  if (Number.isFinite(reset) && reset > 0) return Math.max(1000, reset * 1000 - Date.now());
  return 60_000;
}
