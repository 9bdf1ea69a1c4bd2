// What a scale run needs around the simulated fleet: a real git remote with tagged releases and an
// artifact, the environment file's contents for N simulated nodes, and history sizes read back.
import type { Client } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { environmentSchema, type Environment, type EnvironmentInput } from '../../lib/config/environment-schema';
import type { SimNode } from './fleet';

const run = promisify(execFile);

export interface SimSource {
  remote: string;
  artifacts: Record<string, { url: string; sha256: string }>;
}

/** A bare repository with one tagged commit per release, and a small artifact file per release. */
export async function prepareSimSource(dir: string, releases: string[]): Promise<SimSource> {
  const work = path.join(dir, 'work');
  const remote = path.join(dir, 'app.git');
  await mkdir(work, { recursive: true });
  const git = (cwd: string, ...args: string[]) =>
    run('git', ['-c', 'user.name=Gantry Bench', '-c', 'user.email=bench@gantry.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd });
  await git(dir, 'init', '-q', '--bare', remote);
  await git(work, 'init', '-q');
  const artifacts: SimSource['artifacts'] = {};
  for (const release of releases) {
    await writeFile(path.join(work, 'release.txt'), `${release}\n`);
    await git(work, 'add', '.');
    await git(work, 'commit', '-q', '-m', `Release ${release}`);
    await git(work, 'tag', release);
    const file = path.join(dir, `app-${release}.tgz`);
    const bytes = Buffer.from(`simulated artifact ${release}\n`);
    await writeFile(file, bytes);
    artifacts[release] = { url: `file://${path.join(dir, 'app-{release}.tgz').replace('{release}', release)}`, sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  await git(work, 'push', '-q', '--tags', remote, 'HEAD:main');
  return { remote, artifacts };
}

export interface SimEnvironmentOptions {
  name: string;
  nodes: SimNode[];
  remote: string;
  batchSize: number | string;
  maxUnavailable?: number | string;
  /** How often Gantry polls the load balancer while draining and the node while it starts. */
  pollMs: number;
  healthDeadlineMs?: number;
  /** The artifacts' URL template ({release}). */
  artifactUrl: string;
}

export function simEnvironment(o: SimEnvironmentOptions): Environment {
  const input: EnvironmentInput = {
    name: o.name,
    nodes: o.nodes.map((n) => ({ id: n.id, address: n.address })),
    loadBalancer: { type: 'haproxy', socket: `sim:${o.name}`, backend: 'app', pollInterval: o.pollMs },
    rollout: { batchSize: o.batchSize, ...(o.maxUnavailable === undefined ? {} : { maxUnavailable: o.maxUnavailable }) },
    healthCheck: { interval: o.pollMs, successThreshold: 1, reportsRelease: true, deadline: o.healthDeadlineMs ?? 60_000 },
    source: { remote: o.remote },
    artifact: { url: o.artifactUrl },
  };
  return environmentSchema.parse(input);
}

export interface HistoryStats {
  /** Runs of the deployment (more than one after continue-as-new), each run's event count. */
  parentRuns: number[];
  largestChild: { workflowId: string; events: number };
  children: number;
}

/** Event counts of the deployment's runs and of every child it started, from visibility. */
export async function historyStats(client: Client, environment: string): Promise<HistoryStats> {
  const parentRuns: number[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = "deploy/${environment}"` })) parentRuns.push(w.historyLength);
  let largestChild = { workflowId: '', events: 0 };
  let children = 0;
  for await (const w of client.workflow.list({ query: `WorkflowId STARTS_WITH "deploy/${environment}/"` })) {
    children++;
    if (w.historyLength > largestChild.events) largestChild = { workflowId: w.workflowId, events: w.historyLength };
  }
  return { parentRuns: parentRuns.reverse(), largestChild, children };
}

/** Time from the deployment's start to its first node change (verify, preflight, stage, change list). */
export async function preRolloutMs(client: Client, environment: string): Promise<number> {
  const runs: string[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = "deploy/${environment}"` })) runs.push(w.runId);
  const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
  const events = (await client.workflow.getHandle(`deploy/${environment}`, runs.at(-1)).fetchHistory()).events ?? [];
  const first = events.find((e) => /\/(rollout|node)\/[^/]+$/.test(e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId ?? ''));
  return first ? ms(first.eventTime) - ms(events[0]!.eventTime) : 0;
}
