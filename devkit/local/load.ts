// A bounded request loop through the load balancer, at a fixed pace and concurrency: half the clients
// keep connections alive, half open a new connection per request. Counts every answer that is not a
// 200, every connection error (resets, time-outs), and keeps each request's timing for latency figures.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { releaseIn } from '../../lib/node/health';

export interface LoadReport {
  sent: number;
  ok: number;
  non200: number;
  errors: number;
  failures: string[];
  /** Every answer that was not a 200: when it came (epoch ms), its status and Retry-After. */
  nonOk: { at: number; status: number; retryAfter?: string }[];
  /** Every answer: which client sent it, when it was sent and answered (epoch ms), its status (0: no answer), and the release its JSON body names. */
  samples: { client: number; start: number; end: number; status: number; release?: string }[];
}

export function startLoad(url: string, options: { clients?: number; maxMs?: number; pauseMs?: number } = {}) {
  const { clients = 4, maxMs = 120_000, pauseMs = 5 } = options;
  const report: LoadReport = { sent: 0, ok: 0, non200: 0, errors: 0, failures: [], nonOk: [], samples: [] };
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: clients });

  const one = (client: number, agent: http.Agent | false) =>
    new Promise<void>((resolve) => {
      report.sent++;
      const start = Date.now();
      const req = http.get(url, { agent, timeout: 5_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (body.length < 4_096) body += chunk;
        });
        res.on('end', () => {
          const release = releaseIn(body);
          report.samples.push({ client, start, end: Date.now(), status: res.statusCode ?? 0, ...(release ? { release } : {}) });
          if (res.statusCode === 200) report.ok++;
          else {
            report.non200++;
            report.failures.push(`status ${res.statusCode}`);
            const retryAfter = res.headers['retry-after'];
            report.nonOk.push({ at: Date.now(), status: res.statusCode ?? 0, ...(retryAfter ? { retryAfter: String(retryAfter) } : {}) });
          }
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => {
        report.samples.push({ client, start, end: Date.now(), status: 0 });
        report.errors++;
        report.failures.push(err.message);
        resolve();
      });
    });

  const loops = Array.from({ length: clients }, async (_, i) => {
    while (!stopped && Date.now() < deadline) {
      await one(i, i % 2 === 0 ? keepAlive : false);
      await sleep(pauseMs);
    }
  });

  return {
    report,
    async stop(): Promise<LoadReport> {
      stopped = true;
      await Promise.all(loops);
      keepAlive.destroy();
      return report;
    },
  };
}

/**
 * Bounds on how long the load balancer answered `status` as the requests saw it: each answer was
 * decided between its request's start and end, so the window is at least from the first such
 * answer's end to the last one's start, and at most from the last other answer before it (its
 * start) to the first other answer after it (its end).
 */
export function windowOf(report: LoadReport, status: number): { atLeast: number; atMost: number; samplingMs: number } {
  const hits = report.samples.filter((s) => s.status === status);
  const others = report.samples.filter((s) => s.status !== status);
  const firstEnd = Math.min(...hits.map((s) => s.end));
  const lastStart = Math.max(...hits.map((s) => s.start));
  const before = Math.max(...others.filter((s) => s.end <= Math.min(...hits.map((h) => h.start))).map((s) => s.start));
  const after = Math.min(...others.filter((s) => s.start >= Math.max(...hits.map((h) => h.end))).map((s) => s.end));
  // The sampling interval: how far apart one client's requests were, 95 times in 100.
  const gaps = [...new Set(report.samples.map((s) => s.client))]
    .flatMap((client) => {
      const starts = report.samples.filter((s) => s.client === client).map((s) => s.start).sort((a, b) => a - b);
      return starts.slice(1).map((t, i) => t - starts[i]!);
    })
    .sort((a, b) => a - b);
  const samplingMs = gaps[Math.floor(gaps.length * 0.95)] ?? 0;
  return { atLeast: lastStart - firstEnd, atMost: after - before, samplingMs };
}

export interface WindowStats {
  sent: number;
  failed: number;
  p50: number;
  p99: number;
}

/** Requests sent in [from, to): how many, how many failed, and latency percentiles in ms. */
export function statsBetween(report: LoadReport, from: number, to: number): WindowStats {
  const inWindow = report.samples.filter((s) => s.start >= from && s.start < to);
  const latencies = inWindow.map((s) => s.end - s.start).sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0;
  return { sent: inWindow.length, failed: inWindow.filter((s) => s.status !== 200).length, p50: pick(0.5), p99: pick(0.99) };
}
