// A bounded request loop through the load balancer: some clients keep connections alive, some open
// a new connection per request. Counts every response that is not a 200 and every connection error.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoadReport {
  sent: number;
  ok: number;
  non200: number;
  errors: number;
  failures: string[];
}

export function startLoad(url: string, options: { clients?: number; maxMs?: number; pauseMs?: number } = {}) {
  const { clients = 4, maxMs = 120_000, pauseMs = 5 } = options;
  const report: LoadReport = { sent: 0, ok: 0, non200: 0, errors: 0, failures: [] };
  let stopped = false;
  const deadline = Date.now() + maxMs;
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: clients });

  const one = (agent: http.Agent | false) =>
    new Promise<void>((resolve) => {
      report.sent++;
      const req = http.get(url, { agent, timeout: 5_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) report.ok++;
          else {
            report.non200++;
            report.failures.push(`status ${res.statusCode}`);
          }
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) => {
        report.errors++;
        report.failures.push(err.message);
        resolve();
      });
    });

  const loops = Array.from({ length: clients }, async (_, i) => {
    while (!stopped && Date.now() < deadline) {
      await one(i % 2 === 0 ? keepAlive : false);
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
