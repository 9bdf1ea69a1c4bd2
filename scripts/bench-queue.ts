// `npm run bench:queue`: how fast the environment's queue answers, on the real local stack (dev
// server, HAProxy, 3 agents). Idle: from the client's `enqueue` call to its answer "started", and to
// the deployment's WorkflowExecutionStarted event on the server (same machine, same clock); the first
// call also starts the queue workflow itself (update-with-start). Busy: the answer "queued" while a
// deployment runs, and 10 requests under latest-wins, one after another, coalescing to one pending.
// Options: --samples <n> idle starts (default 8).
import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientDataConverter } from '../client/data-converter';
import { awaitOutcome, deploymentHandle, enqueue } from '../client/deployments';
import { readQueue } from '../client/queue';
import { prepareDeployment } from '../cli/commands/deploy';
import { startReaperSession } from '../devkit/local/reaper';
import { startLocalStack, type LocalStack } from '../devkit/local/stack';
import { setup } from '../devkit/setup';
import { waitUntil } from '../lib/core/wait';
import { abortUpdate, statusQuery } from '../workflows/api';

export interface QueueBenchResult {
  /** The first enqueue of the environment: the queue workflow starts too. */
  coldMs: { answer: number; started: number };
  idle: { samples: number; answer: { median: number; max: number }; started: { median: number; max: number } };
  queuedAnswerMs: number;
  coalescing: { requests: number; totalMs: number; running: number; pending: number; superseded: number };
}

const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** The deployment's WorkflowExecutionStarted time on the server. */
async function startedAt(client: Client, workflowId: string, runId: string): Promise<number> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const t = history.events?.[0]?.eventTime;
  return Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
}

export async function runQueueBench(options: { samples?: number; log?: (line: string) => void } = {}): Promise<QueueBenchResult> {
  const samples = options.samples ?? 8;
  const log = options.log ?? ((line: string) => console.error(`bench-queue: ${line}`));
  const tools = setup(log);
  const releases = ['v1', 'v2', ...Array.from({ length: 10 }, (_, i) => `v${i + 3}`)];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-queue-'));
  let stack: LocalStack | undefined;
  let connection: Connection | undefined;
  try {
    stack = await startLocalStack({ dir, name: 'bq', nodeCount: 3, releases, haproxyPath: tools.haproxy, temporalPath: tools.temporal, taskQueue: 'gantry-bench-queue' });
    const s = stack;
    connection = await Connection.connect({ address: s.temporalAddress });
    const client = new Client({ connection, namespace: 'default', dataConverter: clientDataConverter() });
    const request = (release: string, by: string) => prepareDeployment(s.name, release, { sha256: s.repo.releases[release]!.sha256, requestedBy: by, taskQueue: s.taskQueue });
    const timed = async (release: string, by: string) => {
      const t0 = Date.now();
      const answer = await enqueue(client, request(release, by));
      const answerMs = Date.now() - t0;
      if (answer.status !== 'started' || !answer.deployment) throw new Error(`expected a start on an idle environment, got ${JSON.stringify(answer)}`);
      const startedMs = (await startedAt(client, answer.deployment.workflowId, answer.deployment.runId)) - t0;
      const outcome = await awaitOutcome(deploymentHandle(client, answer.deployment));
      if (outcome.status !== 'live') throw new Error(`${release}: ${outcome.status} ${outcome.error ?? ''}`);
      return { answerMs, startedMs };
    };

    await s.define({});
    log('the first request (starts the queue)');
    const cold = await timed('v1', 'bench-0');
    const idle: { answerMs: number; startedMs: number }[] = [];
    for (let i = 0; i < samples; i++) {
      idle.push(await timed(i % 2 === 0 ? 'v2' : 'v1', `bench-${i + 1}`));
      log(`idle start ${i + 1}/${samples}: answered in ${idle[i]!.answerMs} ms`);
    }

    // Busy: a deployment held at approval, then requests behind it.
    await s.define({ queue: { policy: 'latest-wins' }, approval: { required: true, approvers: ['bob'], timeout: '10m' } });
    const held = await enqueue(client, request('v2', 'holder'));
    const handle = deploymentHandle(client, held.deployment!);
    await waitUntil(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 50);
    const q0 = Date.now();
    const queued = await enqueue(client, request('v3', 'alice'));
    const queuedAnswerMs = Date.now() - q0;
    if (queued.status !== 'queued') throw new Error(`expected queued, got ${queued.status}`);
    const burst = releases.slice(3);
    const b0 = Date.now();
    for (const release of burst) await enqueue(client, request(release, 'alice'));
    const totalMs = Date.now() - b0;
    const q = (await readQueue(client, s.name))!;
    const coalescing = { requests: burst.length + 1, totalMs: totalMs + queuedAnswerMs, running: q.running ? 1 : 0, pending: q.pending.length, superseded: q.superseded.length };
    await handle.executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'bench over' }] });

    const answers = idle.map((x) => x.answerMs);
    const starts = idle.map((x) => x.startedMs);
    return {
      coldMs: { answer: cold.answerMs, started: cold.startedMs },
      idle: { samples, answer: { median: median(answers), max: Math.max(...answers) }, started: { median: median(starts), max: Math.max(...starts) } },
      queuedAnswerMs,
      coalescing,
    };
  } finally {
    await connection?.close();
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export function queueTable(r: QueueBenchResult): string {
  return [
    '| queue (3 real nodes, dev server) | median | max |',
    '| --- | ---: | ---: |',
    `| idle: enqueue → answer "started" (${r.idle.samples} runs) | ${r.idle.answer.median} ms | ${r.idle.answer.max} ms |`,
    `| idle: enqueue → deployment started on the server | ${r.idle.started.median} ms | ${r.idle.started.max} ms |`,
    `| first request (the queue starts too): answer / deployment started | ${r.coldMs.answer} ms | ${r.coldMs.started} ms |`,
    `| busy: enqueue → answer "queued" | ${r.queuedAnswerMs} ms | |`,
    `| latest-wins: ${r.coalescing.requests} requests one after another | ${r.coalescing.totalMs} ms in all | → ${r.coalescing.running} running, ${r.coalescing.pending} pending, ${r.coalescing.superseded} superseded |`,
  ].join('\n');
}

async function main() {
  const options = new Command('bench-queue').option('--samples <n>', 'idle starts to time', '8').parse().opts<{ samples: string }>();
  startReaperSession();
  const result = await runQueueBench({ samples: Number(options.samples) });
  console.log(queueTable(result));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
