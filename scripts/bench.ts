// `npm run bench`: deployments on a simulated fleet through a real Temporal dev server, against the
// ideal critical path and against the same steps in a plain loop; history sizes; the orchestrator
// worker's peak memory and CPU; several environments at once. Prints a Markdown report, then the
// blue-green switch bench's table (scripts/bench-switch.ts: pools of 3 and 100 nodes, real HAProxy) and
// the queue's (scripts/bench-queue.ts: enqueue to start when idle, answers when busy, coalescing).
// Options: --quick (0.1 s steps, small fleets, 2 switches each way: a smoke run), --only <n> (fleets
// of n nodes only; the switch bench only for n = 3 or 100, pools of n).
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { Command } from 'commander';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../lib/core/logger';
import { startProcess, type ManagedProcess } from '../devkit/local/child-process';
import { startDevServer } from '../devkit/local/temporal-dev-server';
import { preRolloutMs } from '../devkit/sim/scenario';
import { plainLoop, startSimStack, type SimStack } from '../devkit/sim/stack';
import { waitUntil } from '../lib/core/wait';
import { ensureTemporalCli } from '../devkit/setup';
import { runSwitchBench, switchTable } from './bench-switch';
import { queueTable, runQueueBench } from './bench-queue';

const ORCHESTRATOR = fileURLToPath(new URL('./bench/orchestrator.ts', import.meta.url));
const logger = createLogger('bench', 'warn');
// A thousand simulated agents' workers: keep their start/stop lines out of the report.
Runtime.install({ logger: new DefaultLogger('ERROR') });

interface Scenario {
  nodes: number;
  batch: number;
  environments?: number;
}

interface Row {
  scenario: string;
  wallMs: number;
  idealMs: number;
  plainMs?: number;
  parentEvents: number;
  parentRuns: number;
  largestChild: number;
  rssMb: number;
  cpuS: number;
  nodesPerS?: number;
  /** Start to the first node change (verify, preflight, stage), and the mean batch time after it minus the ideal batch time. */
  preRolloutMs: number;
  batchOverheadMs: number;
}

/** Peak resident memory (VmHWM) and CPU seconds (user + system) of a process, from /proc. */
async function usage(pid: number): Promise<{ rssMb: number; cpuS: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssMb: Math.round(hwm / 1024), cpuS: ticks / 100 };
}

async function main() {
  const options = new Command('bench').option('--quick', 'short steps and small fleets', false).option('--only <n>', 'fleets of this many nodes only').parse().opts<{ quick: boolean; only?: string }>();
  const step = options.quick ? 100 : 1_000;
  const delays = { stageMs: 0, restartMs: step, healthMs: step };
  const pollMs = 50;
  const scenarios: Scenario[] = options.quick
    ? [{ nodes: 20, batch: 5 }, { nodes: 100, batch: 20 }, { nodes: 5, batch: 1, environments: 4 }]
    : [
        { nodes: 20, batch: 1 },
        { nodes: 20, batch: 5 },
        { nodes: 200, batch: 20 },
        { nodes: 1000, batch: 50 },
        { nodes: 1000, batch: 100 },
        { nodes: 20, batch: 5, environments: 20 },
      ];
  const selected = options.only ? scenarios.filter((s) => s.nodes === Number(options.only)) : scenarios;

  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-'));
  // In memory: on this class of machine the dev server's SQLite file is what bounds a thousand nodes (see BENCHMARKS.md).
  const server = await startDevServer({ temporalPath: ensureTemporalCli((l) => console.error(`setup: ${l}`)), dir, persist: false });
  console.error(`bench: Temporal dev server ${server.address} (in memory), steps of ${step} ms`);
  const rows: Row[] = [];
  try {
    for (const [i, scenario] of selected.entries()) rows.push(await runScenario(i, scenario, server.address, dir, delays, step, pollMs));
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  printReport(rows, step);

  const poolSizes = [3, 100].filter((n) => !options.only || n === Number(options.only));
  if (poolSizes.length > 0) {
    const switchRows = await runSwitchBench({ poolSizes, switches: options.quick ? 2 : 5 });
    console.log(`\n${switchTable(switchRows)}`);
  }
  if (!options.only) console.log(`\n${queueTable(await runQueueBench({ samples: options.quick ? 3 : 8 }))}`);
}

async function runScenario(
  index: number,
  scenario: Scenario,
  address: string,
  dir: string,
  delays: { stageMs: number; restartMs: number; healthMs: number },
  drainMs: number,
  pollMs: number,
): Promise<Row> {
  const envCount = scenario.environments ?? 1;
  const label = envCount > 1 ? `${envCount} envs × ${scenario.nodes} nodes, batch ${scenario.batch}` : `${scenario.nodes} nodes, batch ${scenario.batch}`;
  console.error(`bench: ${label}: starting the simulated fleet`);
  const taskQueue = `bench-${index}`;
  const fleetFile = path.join(dir, `fleet-${index}.json`);
  const stacks: SimStack[] = [];
  let orchestrator: ManagedProcess | undefined;
  try {
    for (let e = 0; e < envCount; e++) {
      const name = `bench${index}-${e}`;
      const stackDir = path.join(dir, name);
      stacks.push(
        await startSimStack({ address, dir: stackDir, name, nodeCount: scenario.nodes, batchSize: scenario.batch, delays, drainMs, pollMs, taskQueue, environmentsDir: path.join(dir, `environments-${index}`) }),
      );
    }
    await writeFile(fleetFile, JSON.stringify(Object.fromEntries(stacks.map((s) => [s.env.name, s.env.nodes.map((n) => n.id)]))));
    orchestrator = startProcess(process.execPath, ['--import', 'tsx', ORCHESTRATOR], {
      logFile: path.join(dir, `orchestrator-${index}.log`),
      env: { ...process.env, TEMPORAL_ADDRESS: address, GANTRY_TASK_QUEUE: taskQueue, BENCH_DRAIN_MS: String(drainMs), BENCH_FLEET_FILE: fleetFile, GANTRY_ENVIRONMENTS: path.join(dir, `environments-${index}`) },
    });
    const ready = await waitUntil(async () => (await readFile(orchestrator!.logFile, 'utf8')).includes('ready'), 60_000, 100);
    if (!ready) throw new Error(`orchestrator did not start:\n${await orchestrator.logTail()}`);

    console.error(`bench: ${label}: deploying v2 through Temporal`);
    const started = Date.now();
    const runs = await Promise.all(stacks.map((s) => s.deploy('v2')));
    const wallMs = Date.now() - started;
    for (const run of runs) if (run.outcome.status !== 'live') throw new Error(`${label}: ${run.outcome.status}: ${run.outcome.error}`);
    const bad = stacks.flatMap((s) => s.fleet.nodes.filter((n) => n.release !== 'v2' || n.activations !== 1));
    if (bad.length > 0) throw new Error(`${label}: ${bad.length} nodes not on v2 exactly once`);
    const { rssMb, cpuS } = await usage(orchestrator.child.pid!);
    const histories = await Promise.all(stacks.map((s) => s.history()));
    const beforeFirstBatch = await preRolloutMs(stacks[0]!.client, stacks[0]!.env.name);
    const idealBatchMs = drainMs + delays.restartMs + delays.healthMs;
    const batches = stacks[0]!.idealMs() / idealBatchMs;

    let plainMs: number | undefined;
    if (envCount === 1) {
      console.error(`bench: ${label}: the same steps in a plain loop`);
      plainMs = await plainLoop(stacks[0]!.env, stacks[0]!.fleet, 'v3', drainMs, logger);
    }
    const row: Row = {
      scenario: label,
      wallMs,
      idealMs: stacks[0]!.idealMs(),
      ...(plainMs === undefined ? {} : { plainMs }),
      parentEvents: Math.max(...histories.flatMap((h) => h.parentRuns)),
      parentRuns: Math.max(...histories.map((h) => h.parentRuns.length)),
      largestChild: Math.max(...histories.map((h) => h.largestChild.events)),
      rssMb,
      cpuS,
      ...(envCount > 1 ? { nodesPerS: (envCount * scenario.nodes) / (wallMs / 1000) } : {}),
      preRolloutMs: beforeFirstBatch,
      batchOverheadMs: (wallMs - beforeFirstBatch) / batches - idealBatchMs,
    };
    console.error(`bench: ${label}: ${JSON.stringify(row)}`);
    return row;
  } finally {
    await orchestrator?.stop();
    for (const s of stacks) await s.stop();
  }
}

function printReport(rows: Row[], step: number): void {
  const f = (n: number, digits = 2) => n.toFixed(digits);
  console.log(`| scenario (${step} ms drain / restart / health) | wall s | ideal s | wall ÷ ideal | plain s | Temporal ÷ plain | parent events (runs) | largest child | worker peak RSS MB | worker CPU s | nodes/s | before 1st batch s | per-batch overhead ms |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${f(r.wallMs / 1000, 1)} | ${f(r.idealMs / 1000, 1)} | ${f(r.wallMs / r.idealMs)} | ${r.plainMs === undefined ? '–' : f(r.plainMs / 1000, 1)} | ${r.plainMs === undefined ? '–' : f(r.wallMs / r.plainMs)} | ${r.parentEvents} (${r.parentRuns}) | ${r.largestChild} | ${r.rssMb} | ${f(r.cpuS, 1)} | ${r.nodesPerS === undefined ? '–' : f(r.nodesPerS, 1)} | ${f(r.preRolloutMs / 1000, 1)} | ${Math.round(r.batchOverheadMs)} |`,
    );
  }
}

await main();
