// One chaos trial: a deployment under load with one fault injected, then the checks: the right
// terminal state, the fleet invariant, each app started exactly once for the new release, and no
// request failed through HAProxy.
import { Client, Connection } from '@temporalio/client';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { awaitOutcome, startOrAttach, type DeployOutcome } from '../../client/deployments';
import { startDeployment } from '../../cli/commands/deploy';
import { loadEnvironmentFile } from '../../lib/config/environment-file';
import type { Environment } from '../../lib/config/environment-schema';
import { fleetProblems } from '../../devkit/local/fleet-check';
import { startLoad, statsBetween, type WindowStats } from '../../devkit/local/load';
import type { LocalStack } from '../../devkit/local/stack';
import type { ChaosStack } from './stack';
import { sleep } from '../../lib/core/wait';
import { nodeRollbackWorkflowId, nodeWorkflowId, statusQuery } from '../../workflows/api';
import { inject, type Fault } from './faults';
import { clientDataConverter } from '../../client/data-converter';

export interface TrialResult {
  trial: number;
  fault: Fault;
  moment: string;
  from: string;
  to: string;
  outcome: string;
  ok: boolean;
  problems: string[];
  before: WindowStats;
  during: WindowStats;
  after: WindowStats;
  /** From the killed process's restart to the deployment's next recorded step. */
  recoveryMs?: number;
  durationMs: number;
}

/** Each node's app log size now: starts are counted in what is appended after. */
async function appLogSizes(env: Environment, rootOf: (id: string) => string): Promise<number[]> {
  return Promise.all(env.nodes.map((n) => stat(path.join(rootOf(n.id), 'app.log')).then((s) => s.size, () => 0)));
}

async function startsSince(env: Environment, rootOf: (id: string) => string, sizes: number[], release: string): Promise<number[]> {
  return Promise.all(
    env.nodes.map(async (n, i) => {
      const text = (await readFile(path.join(rootOf(n.id), 'app.log'))).subarray(sizes[i]).toString('utf8');
      return text.split('\n').filter((line) => line.includes('"msg":"listening"') && line.includes(`"release":"${release}"`)).length;
    }),
  );
}

/**
 * From a restart to the first workflow task or activity that completed after it, in any of the
 * deployment's workflows: how long the deployment stood still.
 */
async function resumedAfter(client: Client, stack: LocalStack, workflowId: string, restartedAt: number): Promise<number | undefined> {
  const ids = [workflowId, ...stack.nodeIds.flatMap((id) => [nodeWorkflowId(stack.name, id), nodeRollbackWorkflowId(stack.name, id)])];
  const times: number[] = [];
  for (const id of ids) {
    const history = await client.workflow.getHandle(id).fetchHistory().catch(() => undefined);
    for (const event of history?.events ?? []) {
      if (!event.workflowTaskCompletedEventAttributes && !event.activityTaskCompletedEventAttributes) continue;
      const at = Number(event.eventTime?.seconds ?? 0) * 1000 + Math.floor((event.eventTime?.nanos ?? 0) / 1e6);
      if (at > restartedAt) times.push(at);
    }
  }
  return times.length > 0 ? Math.min(...times) - restartedAt : undefined;
}

/** The outcome, waiting through a Temporal restart (calls fail while it is down). */
async function outcomeOf(client: Client, workflowId: string, runId: string, timeoutMs: number): Promise<DeployOutcome> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await awaitOutcome(client.workflow.getHandle(workflowId, undefined, { firstExecutionRunId: runId }), undefined, runId);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(500);
    }
  }
}

export async function runTrial(stack: ChaosStack, trial: number, fault: Fault, from: string, to: string, random: () => number): Promise<TrialResult> {
  const env = await loadEnvironmentFile(stack.envFile);
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection, namespace: 'default' , dataConverter: clientDataConverter() });
  try {
    const sizes = await appLogSizes(env, (id) => stack.nodeRoot(id));
    // node-gone runs minutes (the gone agent's time-outs): lighter load, so it does not starve the machine; it still checks every request.
    const load = startLoad(stack.haproxy.url, fault === 'node-gone' ? { clients: 2, pauseMs: 50, maxMs: 300_000 } : { clients: 4, pauseMs: 10, maxMs: 300_000 });
    await sleep(1_000);
    const started = Date.now();
    if (fault === 'artifact-503') stack.artifacts?.failWith(0.5, random);
    const handle = await startDeployment(client, stack.name, to, { sha256: stack.repo.releases[to]!.sha256, requestedBy: 'chaos', taskQueue: stack.taskQueue });
    const status = () => client.workflow.getHandle(handle.workflowId).query(statusQuery);
    const injection = await inject(fault, stack, status, random);
    const outcome = await outcomeOf(client, handle.workflowId, handle.firstExecutionRunId, 240_000);
    const finished = Date.now();
    await stack.receiver.up();
    const recoveryMs = injection.restartedAt ? await resumedAfter(client, stack, handle.workflowId, injection.restartedAt) : undefined;
    stack.artifacts?.failWith(0, random);
    await sleep(1_000);
    const report = await load.stop();

    const problems: string[] = [];
    if (!injection.landed) problems.push(`the fault (${injection.moment}) did not land while the deployment was under way`);
    if (injection.gone) {
      // A node gone for good cannot be deployed or rolled back: the run must end not-live, name it, and put every other node back.
      const gone = injection.gone;
      if (outcome.status === 'live') problems.push(`outcome live although ${gone} is gone`);
      const named = outcome.undoFailures?.some((u) => u.node === gone) || outcome.cause?.node === gone;
      if (!named) problems.push(`${gone} is named neither as the cause nor in undoFailures`);
      const others = (outcome.nodes ?? []).filter((n) => n.id !== gone);
      problems.push(...(await fleetProblems({ ...env, nodes: env.nodes.filter((n) => n.id !== gone) }, others)));
      for (const n of others) if (n.release !== from) problems.push(`${n.id} is on ${n.release ?? 'nothing'}, not back on ${from}`);
      // The node is replaced (a new agent starts its current release) and gantry repair's rollback puts the fleet right for the next trial.
      stack.startAgent(gone);
      const repaired = await awaitOutcome(
        await startOrAttach(client, { input: { environment: stack.name, release: from, kind: 'rollback', repair: true, requestedBy: 'chaos' }, taskQueue: stack.taskQueue }),
      );
      if (repaired.status !== 'live') problems.push(`repair after the trial ended ${repaired.status}: ${repaired.error ?? ''}`);
    } else {
      if (outcome.status !== 'live' || outcome.release !== to) problems.push(`outcome ${outcome.status} ${outcome.release}: ${outcome.error ?? ''}`);
    }
    if (fault === 'webhook-down') {
      // A dead receiver is never fatal, and never silent: the event log says which notice was lost.
      const events = (await client.workflow.getHandle(handle.workflowId).query(statusQuery).catch(() => undefined))?.events ?? [];
      if (!events.some((e) => /^notification ".*" to webhook not delivered/.test(e.what))) problems.push('the dead receiver left no trace in the event log');
    }
    if (!injection.gone) {
      problems.push(...(await fleetProblems(env, outcome.nodes ?? [])));
      const starts = await startsSince(env, (id) => stack.nodeRoot(id), sizes, to);
      starts.forEach((count, i) => count !== 1 && problems.push(`${env.nodes[i]!.id}: ${to} started ${count} times`));
    }
    const failed = report.samples.filter((s) => s.status !== 200);
    if (failed.length > 0) problems.push(`${failed.length} requests failed (${[...new Set(report.failures)].slice(0, 3).join('; ')})`);
    return {
      trial,
      fault,
      moment: injection.moment,
      from,
      to,
      outcome: outcome.status,
      ok: problems.length === 0,
      problems,
      before: statsBetween(report, 0, started),
      during: statsBetween(report, started, finished),
      after: statsBetween(report, finished, Infinity),
      ...(recoveryMs !== undefined ? { recoveryMs } : {}),
      durationMs: finished - started,
    };
  } finally {
    await connection.close();
  }
}
