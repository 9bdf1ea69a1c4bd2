// `npm run bench:switch`: how fast a blue-green switch moves traffic, with real HAProxy. For pools of
// 3 and 100 nodes each, the bench process serves every node on loopback (200 and {"release":"blue"}
// or {"release":"green"}), HAProxy routes its frontend through the pools' map, and 8 clients (half
// keep-alive) send requests through it every 2 ms while `switchPools` — the orchestrator's activity,
// called directly — switches blue → green and back, 1 s apart, 5 times each way. Per switch, from the
// moment just before the call: when the first answer from the new pool and the last answer from the
// old pool came, how long the call took, and the requests sent from 1 s before to 1 s after it.
// Options: --switches <n> each way (default 5), --pool <n> (one pool size only).
import { Command } from 'commander';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPoolActivities } from '../activities/orchestrator/pools';
import { startHaproxy, type HaproxyServer } from '../devkit/local/haproxy-server';
import { startLoad, type LoadReport } from '../devkit/local/load';
import { startReaperSession } from '../devkit/local/reaper';
import { ensureHaproxy } from '../devkit/setup';
import { blueGreenSchema, type PoolName } from '../lib/config/blue-green-schema';
import { loadBalancerSchema } from '../lib/config/environment-schema';
import { createLogger } from '../lib/core/logger';
import { sleep, waitUntil } from '../lib/core/wait';
import { HaproxyClient } from '../lib/lb/haproxy';

export interface SwitchBenchOptions {
  poolSizes?: number[];
  /** Switches each way (blue → green, green → blue) per pool size. */
  switches?: number;
  clients?: number;
  pauseMs?: number;
  /** Pause after each switch, and the window counted on either side of it. */
  settleMs?: number;
  log?: (line: string) => void;
}

export interface SwitchRow {
  poolSize: number;
  switches: number;
  callMs: number;
  firstNewMs: { median: number; max: number };
  lastOldMs: { median: number; max: number };
  /** Requests sent from settleMs before to settleMs after any switch, each counted once. */
  around: number;
  failed: number;
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Serves one node: every path (the health check's too) answers 200 and its pool's release. */
async function startNode(release: PoolName): Promise<http.Server> {
  const body = JSON.stringify({ release });
  const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

async function benchPool(n: number, haproxyPath: string, root: string, o: Required<Omit<SwitchBenchOptions, 'poolSizes'>>): Promise<SwitchRow> {
  const nodes: { name: string; pool: PoolName; server: http.Server }[] = [];
  let haproxy: HaproxyServer | undefined;
  let load: ReturnType<typeof startLoad> | undefined;
  try {
    for (const pool of ['blue', 'green'] as const) for (let i = 1; i <= n; i++) nodes.push({ name: `${pool}-${i}`, pool, server: await startNode(pool) });
    const dir = path.join(root, `pool-${n}`);
    await mkdir(dir);
    const names = (pool: PoolName) => nodes.filter((x) => x.pool === pool).map((x) => x.name);
    haproxy = await startHaproxy({
      haproxyPath,
      dir,
      backend: 'app_blue',
      servers: nodes.map((x) => ({ name: x.name, address: `127.0.0.1:${(x.server.address() as AddressInfo).port}`, healthPath: '/healthz' })),
      startInMaintenance: false,
      pools: { blue: { backend: 'app_blue', servers: names('blue') }, green: { backend: 'app_green', servers: names('green') } },
    });
    const stats = new HaproxyClient(haproxy.socket);
    const up = await waitUntil(async () => (await stats.showStat()).filter((s) => s.status.startsWith('UP')).length === 2 * n, 15_000, 100);
    if (!up) throw new Error(`pool of ${n}: HAProxy did not report all ${2 * n} servers UP`);

    const lb = loadBalancerSchema.parse({ type: 'haproxy', socket: haproxy.socket, backend: 'app_blue' });
    const strategy = blueGreenSchema.parse({
      type: 'blue-green',
      pools: { blue: { nodes: names('blue'), backend: 'app_blue' }, green: { nodes: names('green'), backend: 'app_green' } },
      map: { file: haproxy.mapFile! },
      shadow: { url: haproxy.shadowUrl! },
    });
    const pools = createPoolActivities({ logger: createLogger('bench-switch', 'warn') });

    o.log(`bench-switch: ${n} nodes per pool: ${o.switches} switches each way under load`);
    load = startLoad(haproxy.url, { clients: o.clients, pauseMs: o.pauseMs, maxMs: 120_000 });
    await sleep(o.settleMs);
    const switches: { at: number; callMs: number; from: PoolName; to: PoolName }[] = [];
    for (let i = 0; i < o.switches; i++) {
      for (const [from, to] of [['blue', 'green'], ['green', 'blue']] as const) {
        const at = Date.now();
        const t0 = performance.now();
        const { changed } = await pools.switchPools({ lb, strategy, live: to });
        switches.push({ at, callMs: performance.now() - t0, from, to });
        if (!changed) throw new Error(`pool of ${n}: switch to ${to} changed nothing`);
        await sleep(o.settleMs);
      }
    }
    const report = await load.stop();
    load = undefined;
    return summarise(n, o, report, switches);
  } finally {
    await load?.stop();
    await haproxy?.stop();
    for (const { server } of nodes) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  }
}

function summarise(n: number, o: { switches: number; settleMs: number }, report: LoadReport, switches: { at: number; callMs: number; from: PoolName; to: PoolName }[]): SwitchRow {
  const firstNew: number[] = [];
  const lastOld: number[] = [];
  const around = new Set<LoadReport['samples'][number]>();
  switches.forEach((s, i) => {
    // Until the next switch: answers after it belong to the next one.
    const until = switches[i + 1]?.at ?? Infinity;
    const between = report.samples.filter((x) => x.end >= s.at && x.start < until);
    const news = between.filter((x) => x.release === s.to).map((x) => x.end);
    const olds = between.filter((x) => x.release === s.from).map((x) => x.end);
    if (news.length === 0) throw new Error(`pool of ${n}: no answer from ${s.to} after switch ${i + 1}`);
    firstNew.push(Math.min(...news) - s.at);
    lastOld.push(olds.length > 0 ? Math.max(...olds) - s.at : 0);
    for (const x of report.samples) if (x.start >= s.at - o.settleMs && x.start < s.at + o.settleMs) around.add(x);
  });
  return {
    poolSize: n,
    switches: o.switches,
    callMs: median(switches.map((s) => s.callMs)),
    firstNewMs: { median: median(firstNew), max: Math.max(...firstNew) },
    lastOldMs: { median: median(lastOld), max: Math.max(...lastOld) },
    around: around.size,
    failed: [...around].filter((x) => x.status !== 200).length,
  };
}

export async function runSwitchBench(options: SwitchBenchOptions = {}): Promise<SwitchRow[]> {
  const { poolSizes = [3, 100], switches = 5, clients = 8, pauseMs = 2, settleMs = 1_000, log = (line: string) => console.error(line) } = options;
  startReaperSession();
  const haproxyPath = ensureHaproxy((l) => log(`setup: ${l}`));
  const root = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-switch-'));
  const rows: SwitchRow[] = [];
  try {
    for (const n of poolSizes) rows.push(await benchPool(n, haproxyPath, root, { switches, clients, pauseMs, settleMs, log }));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return rows;
}

export function switchTable(rows: SwitchRow[], o: { clients?: number; pauseMs?: number } = {}): string {
  const f = (x: number) => x.toFixed(1);
  const switches = rows[0]?.switches ?? 0;
  return [
    `Blue-green switch through HAProxy's Runtime API (\`switchPools\`: prepare / add / commit map), ${switches} switches each way per pool size, ` +
      `${o.clients ?? 8} clients every ${o.pauseMs ?? 2} ms (half keep-alive); times from just before the call. ` +
      'Target: the whole fleet on the new pool (last old-pool answer) ≤ 100 ms, 0 failed.',
    '',
    '| nodes per pool | switch call ms (median) | to first new-pool answer ms (median, max) | to last old-pool answer ms (median, max) | requests around switches (±1 s) | failed |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.poolSize} | ${f(r.callMs)} | ${f(r.firstNewMs.median)}, ${r.firstNewMs.max} | ${f(r.lastOldMs.median)}, ${r.lastOldMs.max} | ${r.around.toLocaleString('en')} | ${r.failed} |`),
  ].join('\n');
}

async function main() {
  const options = new Command('bench-switch')
    .option('--switches <n>', 'switches each way per pool size', '5')
    .option('--pool <n>', 'this many nodes per pool only')
    .parse()
    .opts<{ switches: string; pool?: string }>();
  const rows = await runSwitchBench({ switches: Number(options.switches), ...(options.pool ? { poolSizes: [Number(options.pool)] } : {}) });
  console.log(switchTable(rows));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
