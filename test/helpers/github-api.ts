// A local HTTP server answering GitHub's combined-status and check-runs endpoints with their
// documented JSON shapes. Each commit's answers are scripted as a list consumed one poll at a time.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type ScriptedChecks =
  | {
      statuses: { context: string; state: 'error' | 'failure' | 'pending' | 'success'; target_url?: string }[];
      checkRuns: { id: number; name: string; status: 'queued' | 'in_progress' | 'completed'; conclusion: string | null; html_url?: string }[];
    }
  /** GitHub's rate-limit answers: 403 with x-ratelimit-remaining 0 and x-ratelimit-reset, or 429 with retry-after. */
  | { rateLimited: { status: 403; resetInSeconds: number } | { status: 429; retryAfterSeconds: number } }
  /** GitHub down: a 5xx answer. */
  | { down: 502 | 503 };

export async function startGithubApi() {
  const script = new Map<string, ScriptedChecks[]>();
  const seenTokens: (string | undefined)[] = [];
  const answered: { at: number; limited: boolean }[] = [];
  const server = http.createServer((req, res) => {
    seenTokens.push(req.headers.authorization);
    const match = /^\/repos\/([^/]+\/[^/]+)\/commits\/([0-9a-f]+)\/(status|check-runs)/.exec(req.url ?? '');
    const steps = match ? script.get(match[2]!) : undefined;
    if (!match || !steps) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not Found' }));
      return;
    }
    // The status call and the check-runs call of one poll share a step; advance after check-runs.
    const step = steps.length > 1 && match[3] === 'check-runs' ? steps.shift()! : steps[0]!;
    answered.push({ at: Date.now(), limited: 'rateLimited' in step });
    if ('down' in step) {
      res.writeHead(step.down, { 'content-type': 'text/html' }).end('<html>unicorn</html>');
      return;
    }
    if ('rateLimited' in step) {
      const limit = step.rateLimited;
      const headers: Record<string, string> =
        limit.status === 429
          ? { 'retry-after': String(limit.retryAfterSeconds) }
          : { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + limit.resetInSeconds) };
      res.writeHead(limit.status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify({ message: 'API rate limit exceeded' }));
      return;
    }
    const body =
      match[3] === 'status'
        ? { state: 'pending', sha: match[2], total_count: step.statuses.length, statuses: step.statuses.map((s) => ({ ...s, description: null })) }
        : { total_count: step.checkRuns.length, check_runs: step.checkRuns.map((r) => ({ ...r, head_sha: match[2] })) };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    script,
    seenTokens,
    answered,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
