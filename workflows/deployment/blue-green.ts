// Blue-green: the release starts in the idle pool while the live pool serves, untouched; smoke tests
// reach it through the shadow address; one switch of HAProxy's map sends every user to it; a watch of
// its backend's errors switches back by itself; the old pool stays warm (its own workflow, warm-pool.ts)
// for an instant `gantry switch-back`. Before the switch an undo only stops the idle pool.
import { ApplicationFailure, CancellationScope, ParentClosePolicy, condition, isCancellation, startChild, workflowInfo } from '@temporalio/workflow';
import { serverName } from '../../lib/config/environment-rules';
import type { BlueGreen, Environment, PoolName } from '../../lib/config/environment-schema';
import { failureTypes } from '../../lib/core/failure-types';
import { warmWorkflowId } from '../api';
import { control, poolWatch, pools, smokeTests, warmPeriods } from '../common/proxies';
import { describeFailure } from '../common/failures';
import { acrossFleet } from '../fleet/node-group';
import { awaitApproval } from './approval';
import { backupAndExpand, compatibilityGate, contract, rehearsalSteps } from './migrations';
import type { Notices } from './notices';
import { approvalWanted } from './prepare';
import { rollOutBatch, runBatch } from './rollout';
import type { DeploymentState, WorkflowInput } from './state';
import { warmPool } from './warm-pool';

export const POOLS = ['blue', 'green'] as const;
export const otherPool = (pool: PoolName): PoolName => (pool === 'blue' ? 'green' : 'blue');

export function blueGreenOf(env: Environment): BlueGreen | undefined {
  return env.strategy?.type === 'blue-green' ? env.strategy : undefined;
}

/** The environment as one pool sees it: that pool's nodes, behind that pool's backend. */
export function poolEnvironment(env: Environment, pool: PoolName): Environment {
  const strategy = blueGreenOf(env)!;
  const ids = strategy.pools[pool].nodes;
  return { ...env, nodes: env.nodes.filter((n) => ids.includes(n.id)), loadBalancer: { ...env.loadBalancer, backend: strategy.pools[pool].backend } };
}

/**
 * Both pools before anything changes: an earlier deployment's warm period ends (a new release takes
 * the idle pool), the map says which pool is live, every server is in its pool's backend, the live
 * pool's nodes answer and are healthy, the idle pool's agents answer (their health does not matter: they get the release).
 */
export async function blueGreenPreflight(input: WorkflowInput, state: DeploymentState): Promise<void> {
  const env = input.environment;
  const strategy = blueGreenOf(env)!;
  const { ended } = await warmPeriods.endWarmPeriod({ workflowId: warmWorkflowId(env.name) });
  if (ended) state.record("the previous deployment's warm pool is handed to this one (no switch-back to it from now on)");
  const { live } = await pools.readRouting({ lb: env.loadBalancer, strategy });
  const idle = otherPool(live);
  const [liveEnv, idleEnv] = [poolEnvironment(env, live), poolEnvironment(env, idle)];
  const [liveLb, idleLb, liveFacts, idleFacts] = await Promise.all([
    control.checkServers({ lb: liveEnv.loadBalancer, servers: liveEnv.nodes.map(serverName) }),
    control.checkServers({ lb: idleEnv.loadBalancer, servers: idleEnv.nodes.map(serverName) }),
    acrossFleet(liveEnv, { op: 'probe' }, input.shape),
    acrossFleet(idleEnv, { op: 'survey' }, input.shape),
  ]);
  const silent = idleFacts.filter((f) => f.reachable !== true);
  if (silent.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `the idle pool ${idle} cannot take the release: ${silent.map((f) => `${f.id}: ${f.error ?? 'its agent did not answer'}`).join('; ')}`,
      failureTypes.agentUnavailable,
    );
  }
  state.poolsFound(
    live,
    { blue: strategy.pools.blue.backend, green: strategy.pools.green.backend },
    { blue: [...strategy.pools.blue.nodes], green: [...strategy.pools.green.nodes] },
    strategy.shadow.url,
  );
  state.preflightPassed([
    ...liveEnv.nodes.map((n, i) => ({ id: n.id, release: liveFacts[i]!.release ?? null, lb: liveLb[serverName(n)] ?? 'unknown' })),
    ...idleEnv.nodes.map((n, i) => ({ id: n.id, release: idleFacts[i]!.release ?? null, lb: idleLb[serverName(n)] ?? 'unknown' })),
  ]);
}

/** The input a step on the target pool works from (staging, the kept check). */
export function targetInput(input: WorkflowInput, state: DeploymentState): WorkflowInput {
  return { ...input, environment: poolEnvironment(input.environment, state.pools!.target) };
}

/** From the staged idle pool to live traffic on it, the watch passed and the old pool warm. */
export async function blueGreenRollout(input: WorkflowInput, state: DeploymentState, notices: Notices): Promise<void> {
  const env = input.environment;
  const strategy = blueGreenOf(env)!;
  const from = state.pools!.live;
  const to = state.pools!.target;
  const targetEnv = poolEnvironment(env, to);

  // Every node of the idle pool at once: none of them serves users yet.
  const startPool = async (rehearsal?: string) => {
    await rollOutBatch({ ...input, environment: { ...targetEnv, rollout: { batchSize: targetEnv.nodes.length } } }, targetEnv.nodes, 0, state, rehearsal);
    state.record(`${to} runs ${input.release} on ${targetEnv.nodes.length} node(s), healthy${rehearsal ? ', on the rehearsal copy of the database' : ''}; users still reach ${from}`);
  };
  const smoke = async (where: string) => {
    if (strategy.smoke.checks.length === 0 && !strategy.smoke.command) {
      state.record('no smoke tests defined (strategy.smoke): the health checks are all that was tested');
      return;
    }
    const results = await smokeTests(strategy).smokeTest({ strategy });
    state.smokeTested(results);
    const failed = results.find((r) => !r.passed);
    if (failed) {
      const error = `smoke test ${failed.name} failed through ${strategy.shadow.url}${where}: ${failed.error ?? 'failed'}${failed.excerpt ? ` (got: ${failed.excerpt.slice(0, 200)})` : ''}`;
      state.failedBecause({ step: 'smoke-test', error });
      throw ApplicationFailure.nonRetryable(error, failureTypes.smokeTestFailed);
    }
  };

  if (rehearses(env)) await rehearse(input, state, targetEnv, startPool, smoke);
  else {
    state.enter('rollout');
    await startPool();
  }
  state.enter('smoke-test');
  await smoke('');
  if (approvalWanted(input)) await awaitApproval(state, notices);
  if (state.pausedBy !== null) {
    state.record('holding the switch until resumed');
    await condition(() => state.pausedBy === null);
  }

  state.enter('switch');
  // Recorded before the call, and never cancelled halfway: HAProxy may have taken the switch even when the call fails, so an undo must put the routing back.
  state.switchAttempted();
  const { switchedAt } = await CancellationScope.nonCancellable(() => pools.switchPools({ lb: env.loadBalancer, strategy, live: to }));
  state.switched(switchedAt, strategy.watch.duration);
  notices.send('switched', { pools: state.pools });

  state.enter('watch');
  const watch = await poolWatch(strategy).watchPool({
    lb: env.loadBalancer,
    backend: strategy.pools[to].backend,
    durationMs: strategy.watch.duration,
    intervalMs: strategy.watch.interval,
    max5xx: strategy.watch.max5xx,
    maxConnectionErrors: strategy.watch.maxConnectionErrors,
  });
  if (watch.breached) {
    state.failedBecause({ step: 'watch', error: watch.reason });
    // A pool with no server up cannot take users back: then the undo reports it and keeps the new pool serving.
    if ((await pools.activeServers({ lb: env.loadBalancer, backend: strategy.pools[from].backend })) === 0) {
      throw ApplicationFailure.nonRetryable(`${watch.reason}; not switched back: no server of ${from} is up`, failureTypes.watchBreached);
    }
    // Back at once, before anything else: users are getting errors now.
    await pools.switchPools({ lb: env.loadBalancer, strategy, live: from });
    state.switchedBack(from, `watch: ${watch.reason}`);
    notices.send('switched-back', { reason: watch.reason });
    throw ApplicationFailure.nonRetryable(`switched back to ${from}: ${watch.reason}`, failureTypes.watchBreached);
  }
  state.watched(watch.counts);

  const warmRelease = mostCommonRelease(state, strategy.pools[from].nodes);
  if (warmRelease === null) {
    state.record(`${from} served nothing before the switch: there is no warm pool to switch back to`);
    // Nothing can switch back to the old schema: contract now. A failed contract is reported; users stay on the new pool (as in a rolling deployment).
    if (env.migrations) {
      try {
        await contract(targetInput(input, state), state);
      } catch (err) {
        if (isCancellation(err)) throw err;
        const error = describeFailure(err);
        state.contractFailed(error, `contract migrations failed: ${error} — ${to} stays live on ${input.release}; nothing is switched back. Fix the contract migration; the next deployment runs it again`);
      }
    }
    return;
  }
  // Counted from the end of the watch: the warm period never starts stopping the old pool while this deployment still reads the fleet back.
  const warmFrom = Date.now();
  const until = warmFrom + strategy.keepWarm;
  await startChild(warmPool, {
    workflowId: warmWorkflowId(env.name),
    // The warm period outlives this deployment: `gantry switch-back` works after the result is in.
    parentClosePolicy: ParentClosePolicy.ABANDON,
    args: [
      {
        environment: env,
        warm: from,
        live: to,
        release: input.release,
        warmRelease,
        switchedAt,
        warmFrom,
        keepWarmMs: strategy.keepWarm,
        deploymentRunId: workflowInfo().runId,
        requestedBy: input.requestedBy,
        commit: state.commit,
        artifactSha256: input.artifact?.sha256 ?? null,
        plan: input.plan ?? null,
      },
    ],
  });
  state.warmUntil(until);
  if (env.migrations) state.record(`the contract migration runs when ${from} stops at ${new Date(until).toISOString()} (a switch back needs the old schema until then)`);
}

/** The environment rehearses its migrations on a copy of the database before the live one changes. */
export function rehearses(env: Environment): boolean {
  return blueGreenOf(env)?.shadow.database === 'copy' && env.migrations !== undefined;
}

/**
 * The rehearsal: a copy of the database (same server), the expand on it, the idle pool started against
 * it and smoke-tested; only then the backup and expand of the live database (with the compatibility
 * gate on the live pool), the idle pool restarted against it, and the copy dropped — also when any of it fails.
 */
async function rehearse(
  input: WorkflowInput,
  state: DeploymentState,
  targetEnv: Environment,
  startPool: (rehearsal?: string) => Promise<void>,
  smoke: (where: string) => Promise<void>,
): Promise<void> {
  const steps = rehearsalSteps(targetEnv);
  // One copy per run, named from its id: a retried activity finds the copy it made.
  const id = workflowInfo().runId.replace(/[^0-9a-f]/g, '').slice(0, 12);
  state.enter('rehearsal');
  try {
    // Inside the try: a copy made by an attempt that then failed or was cancelled is dropped too (the drop is IF EXISTS).
    const copy = await steps.copy(id);
    state.rehearsal(
      { database: copy.database, bytes: copy.bytes, copyMs: copy.durationMs, method: copy.method },
      `rehearsal: copied the database to ${copy.database} on ${steps.runner} (${copy.bytes} bytes in ${copy.durationMs} ms, ${copy.method === 'template' ? 'CREATE DATABASE … TEMPLATE' : 'pg_dump | pg_restore: the database had open sessions'})`,
    );
    const { durationMs } = await steps.expand(input.release, id);
    state.rehearsal({ expandMs: durationMs }, `rehearsal: expand migrations applied to the copy in ${durationMs} ms`);
    await startPool(id);
    await smoke(' on the rehearsal copy');
    state.rehearsal({ smokePassed: true }, 'rehearsal passed: the live database is next');
    state.enter('migrate');
    await backupAndExpand({ ...input, environment: targetEnv }, state);
    await compatibilityGate(poolEnvironment(input.environment, state.pools!.live), state);
    state.enter('rollout');
    await startPool();
  } finally {
    // Dropped whatever happened, an abort included: a copy of production must not linger.
    await CancellationScope.nonCancellable(async () => {
      const name = state.migration.rehearsal?.database || `the copy of run id ${id}`;
      try {
        await steps.drop(id);
        state.rehearsal({ dropped: true }, `rehearsal copy ${name} dropped`);
      } catch (err) {
        state.record(`rehearsal copy ${name} could not be dropped (${describeFailure(err)}): drop it by hand`);
      }
    });
  }
}

/**
 * Undo of a blue-green deployment: back to the old pool if traffic was switched, then the target
 * pool's changed nodes are stopped and left out of rotation. The old pool was never touched.
 */
export async function blueGreenUndo(input: WorkflowInput, state: DeploymentState): Promise<void> {
  const env = input.environment;
  const strategy = blueGreenOf(env)!;
  const p = state.pools!;
  state.enter('rolling-back');
  const from = otherPool(p.target);
  if ((p.switchAttempted || p.switchedAt !== undefined) && p.switchedBack === undefined) {
    // Users may be on the target pool: it is stopped only once they are back on the old one.
    try {
      if ((await pools.activeServers({ lb: env.loadBalancer, backend: strategy.pools[from].backend })) === 0) {
        state.undoStepFailed('load balancer', `not switching back: no server of ${from} is up in HAProxy; users stay on ${p.target} (${input.release}), which keeps running`);
        return;
      }
      await pools.switchPools({ lb: env.loadBalancer, strategy, live: from });
      state.switchedBack(from, state.abortRequest ? `aborted by ${state.abortRequest.by}: ${state.abortRequest.reason}` : 'the deployment failed after the switch');
    } catch (err) {
      state.undoStepFailed('load balancer', `switching back to ${from} failed: ${describeFailure(err)}; users may still reach ${p.target}, which keeps running`);
      return;
    }
  }
  const changed = state.undoList().filter((id) => p.nodes[p.target].includes(id));
  if (changed.length === 0) return;
  const targetEnv = poolEnvironment(env, p.target);
  const nodes = targetEnv.nodes.filter((n) => changed.includes(n.id));
  for (const node of nodes) state.record(`${node.id}: stopping ${input.release} (the ${p.target} pool goes out of rotation)`);
  try {
    const batch = { environment: { ...targetEnv, nodes }, mode: 'undo' as const, release: '', targets: Object.fromEntries(nodes.map((n) => [n.id, null])), concurrency: nodes.length };
    for (const outcome of await runBatch(env.name, 1, batch, input.shape)) {
      if (outcome.ok) state.nodeRolledBack(outcome.id, outcome.release, outcome.lb);
      else state.undoFailed(outcome.id, outcome.error);
    }
  } catch (err) {
    for (const node of nodes) state.undoFailed(node.id, describeFailure(err));
  }
}

function mostCommonRelease(state: DeploymentState, ids: readonly string[]): string | null {
  const counts = new Map<string, number>();
  for (const id of ids) {
    const release = state.node(id).previousRelease;
    if (release !== null) counts.set(release, (counts.get(release) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}
