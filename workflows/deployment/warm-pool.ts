// The old pool's warm period after a blue-green switch, as its own workflow (`warm/<env>`), so it
// outlives the deployment: until `keepWarm` after the switch, `gantry switch-back` (an update) sends
// users back to it at once and stops the pool it leaves; at the end of the period the old pool is
// stopped (a durable timer). A new deployment of the environment supersedes it (signal) before it
// touches the idle pool; then nothing is stopped here.
import { ActivityFailure, ApplicationFailure, allHandlersFinished, condition, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { failureTypes } from '../../lib/core/failure-types';
import { controllersOf, principalOf } from '../../lib/identity/policy';
import type { Environment, PoolName } from '../../lib/config/environment-schema';
import { inLanes } from '../../lib/rollout/lanes';
import { supersedeSignal, switchBackUpdate, warmStatusQuery, type SignedStatement, type SwitchBackPayload, type UndoFailure, type WarmStatus } from '../api';
import { describeFailure } from '../common/failures';
import { pools, signatures } from '../common/proxies';
import { runNodeChild } from '../fleet/node-child';
import { blueGreenOf, poolEnvironment } from './blue-green';
import { runContract } from './migrations';

export interface WarmInput {
  environment: Environment;
  warm: PoolName;
  live: PoolName;
  release: string;
  warmRelease: string;
  switchedAt: number;
  /** When the warm period began (the end of the deployment's watch); absent in early runs: the switch. */
  warmFrom?: number;
  keepWarmMs: number;
  deploymentRunId: string;
  /** Who may switch back follows the deployment's control list (with its requester as @requester); a signed switch-back is bound to these. */
  requestedBy: string;
  commit: string | null;
  artifactSha256: string | null;
  plan: { hash: string; summary: string } | null;
}

/** Pools stop at most this many nodes at once. */
const STOP_LANES = 50;

export async function warmPool(input: WarmInput): Promise<WarmStatus> {
  const env = input.environment;
  const strategy = blueGreenOf(env)!;
  const until = (input.warmFrom ?? input.switchedAt) + input.keepWarmMs;
  const status: WarmStatus = {
    environment: env.name,
    release: input.release,
    warmRelease: input.warmRelease,
    live: input.live,
    warm: input.warm,
    switchedAt: new Date(input.switchedAt).toISOString(),
    warmUntil: new Date(until).toISOString(),
    state: 'warm',
    deploymentRunId: input.deploymentRunId,
    workflowId: workflowInfo().workflowId,
    runId: workflowInfo().runId,
    commit: input.commit,
    artifactSha256: input.artifactSha256,
    plan: input.plan,
    signing: { control: env.control.requireSigned && env.identity !== undefined && input.plan !== null },
  };
  const show = (line: string) =>
    setCurrentDetails(`**${status.state}** — ${line}\n\nusers reach **${status.live}**; ${status.warm} ${status.state === 'warm' ? `stays warm on ${input.warmRelease} until ${status.warmUntil}` : 'is stopped'}`);
  show(`the switch to ${input.release} happened at ${status.switchedAt}`);

  let asked: SwitchBackPayload | null = null;
  let superseded = false;
  let attempts = 0;
  setHandler(warmStatusQuery, () => ({ ...status }));
  setHandler(supersedeSignal, () => void (superseded = true));
  setHandler(
    switchBackUpdate,
    async (payload) => {
      const mine = ++attempts;
      if (payload.signature) {
        const principal = await verifySwitchBack(env, status, payload.signature);
        if (principal !== principalOf(env, payload.by)) throw ApplicationFailure.nonRetryable(`the statement is signed by ${principal} but the switch-back says ${payload.by}`, failureTypes.signatureRefused);
        if (status.state !== 'warm') throw ApplicationFailure.nonRetryable(`${status.warm} is not warm any more (${status.state})`, failureTypes.notWarm);
      }
      asked = payload;
      // Answered once traffic is back (or the switch back was refused); stopping the pool it left comes after.
      await condition(() => status.state !== 'warm' || (status.error !== undefined && mine === attempts && asked === null));
      return { ...status };
    },
    {
      validator: (payload: SwitchBackPayload | undefined) => {
        if (typeof payload?.by !== 'string' || payload.by.trim() === '') throw new Error('by: say who switches back');
        const by = principalOf(env, payload.by);
        const allowed = controllersOf(env, input.requestedBy);
        if (allowed && !allowed.includes(by)) throw new Error(`${by} may not switch ${env.name} back (control.allowed: ${allowed.join(', ') || 'nobody'})`);
        if (env.control.requireSigned && !payload.signature) {
          throw new Error(`${by}'s switch-back is not signed, and ${env.name} takes only signed control actions: run gantry switch-back ${env.name} --as ${by} --key ~/.ssh/id_ed25519 (or with the key in ssh-agent)`);
        }
        if (status.state !== 'warm') throw new Error(`${status.warm} is not warm any more (${status.state}${status.at ? ` at ${status.at}` : ''}); use gantry rollback ${env.name}`);
        if (superseded) throw new Error(`a new deployment of ${env.name} has taken the idle pool; use gantry rollback ${env.name}`);
      },
    },
  );

  for (;;) {
    const woken = await condition(() => asked !== null || superseded, Math.max(0, until - Date.now()));
    if (superseded) {
      Object.assign(status, { state: 'superseded', at: new Date().toISOString() });
      break;
    }
    if (!woken) {
      // keepWarm passed: the old pool stops; a switch back from now on is a new deployment (gantry rollback).
      Object.assign(status, { state: 'stopped', at: new Date().toISOString() });
      show(`keepWarm passed; stopping ${input.warm}`);
      const failures = await stopPool(env, input.warm);
      if (failures.length > 0) status.stopFailures = failures;
      if (env.migrations) await contractNow(env, input, status);
      break;
    }
    const request = asked!;
    // A pool with no server up cannot take users: refuse, and stay warm (the health checks may bring it back).
    // HAProxy not answering is refused the same way: the warm period goes on, and still ends on time.
    let refused: string | undefined;
    try {
      const active = await pools.activeServers({ lb: env.loadBalancer, backend: strategy.pools[input.warm].backend });
      if (active === 0) refused = `no server of ${input.warm} (backend ${strategy.pools[input.warm].backend}) is up in HAProxy; not switching back`;
      else await pools.switchPools({ lb: env.loadBalancer, strategy, live: input.warm });
    } catch (err) {
      refused = `the switch back failed: ${describeFailure(err)}; the map may need checking (gantry switch-back again, or show map in HAProxy)`;
    }
    if (refused !== undefined) {
      status.error = refused;
      asked = null;
      continue;
    }
    Object.assign(status, { state: 'switched-back', at: new Date().toISOString(), by: principalOf(env, request.by), live: input.warm, warm: input.live, ...(request.reason ? { reason: request.reason } : {}) });
    delete status.error;
    show(`switched back by ${request.by}; stopping ${input.live}`);
    const failures = await stopPool(env, input.live);
    if (failures.length > 0) status.stopFailures = failures;
    break;
  }
  await condition(allHandlersFinished);
  return status;
}

/** The orchestrator's check of a signed switch-back: bound to this warm period's run and the deployment's release, commit, artifact and plan. Returns the signer. */
async function verifySwitchBack(env: Environment, status: WarmStatus, signed: SignedStatement): Promise<string> {
  if (!env.identity || !status.plan) throw ApplicationFailure.nonRetryable(`${env.name} checks no signatures here (no identity section, or a deployment from before plans); send it unsigned`, failureTypes.signatureRefused);
  try {
    const verified = await signatures.verifyStatement({
      identity: env.identity,
      statement: signed.statement,
      signature: signed.signature,
      expected: {
        environment: env.name,
        workflowId: status.workflowId,
        runId: status.runId,
        action: 'switch-back',
        release: status.release,
        commit: status.commit,
        artifactSha256: status.artifactSha256,
        planHash: status.plan.hash,
      },
    });
    return verified.principal;
  } catch (err) {
    if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) throw ApplicationFailure.nonRetryable(err.cause.message, err.cause.type ?? failureTypes.signatureRefused);
    throw ApplicationFailure.nonRetryable(`the signature could not be checked (${describeFailure(err)}); send it again`, failureTypes.signatureRefused);
  }
}

/** No pool can switch back to the old schema any more: the contract migration runs, on the live pool's runner. */
async function contractNow(env: Environment, input: WarmInput, status: WarmStatus): Promise<void> {
  const liveEnv = poolEnvironment(env, input.live);
  try {
    const { ran, durationMs, runner } = await runContract(liveEnv, input.release);
    status.contract = { ran, runner, durationMs };
  } catch (err) {
    // Reported, never undone: every node of the live pool runs the new release, which works on either schema.
    status.contract = { ran: false, runner: liveEnv.nodes[0]!.id, error: describeFailure(err) };
  }
}

/** Takes every node of `pool` out of its backend and stops its app (the node cycle with no release). */
async function stopPool(env: Environment, pool: PoolName): Promise<UndoFailure[]> {
  const poolEnv = poolEnvironment(env, pool);
  const failures: UndoFailure[] = [];
  await inLanes(poolEnv.nodes, STOP_LANES, async (node) => {
    try {
      await runNodeChild(poolEnv, node, `warm/${env.name}/node/${node.id}`, null);
    } catch (err) {
      failures.push({ node: node.id, error: describeFailure(err) });
    }
  });
  return failures;
}
