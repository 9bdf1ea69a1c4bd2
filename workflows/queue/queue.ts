// The queue of one environment, `queue/<env>`: it owns the environment over time. Every start is an
// `enqueue` update (with start), answered at once: started, attached, or queued behind what holds it.
// Deployments are its children, one at a time; the lock and the freeze are its state, so no crash
// can leave a stale lock. It continues as new between deployments, and moves to new Gantry builds
// when idle (AUTO_UPGRADE), while each deployment stays pinned to the build that started it.
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  patched,
  setHandler,
  setWorkflowOptions,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { QueueRules } from '../../activities/orchestrator/definitions';
import { failureTypes } from '../../lib/core/failure-types';
import type { DeployInput } from '../api';
import {
  enqueueUpdate,
  freezeUpdate,
  lockUpdate,
  queueStatusQuery,
  unfreezeUpdate,
  unlockUpdate,
  type EnqueueAnswer,
  type QueueInput,
  type QueuedRequest,
} from '../queue-api';
import { definitions, promotions, verification } from '../common/proxies';
import { DEFAULT_SHAPE } from '../../lib/rollout/batches';
import { describeFailure } from '../common/failures';
import { QueueNotices } from './queue-notices';
import { validateFreeze, validateLock, validateRequest, validateUnlock } from './queue-payloads';
import { QueueState } from './queue-state';
import { outcomeOf, startDeployment } from './run-deployment';

/** Well under the server's limits: a queue that takes many requests while held starts afresh. */
const HISTORY_LIMIT = 4_000;
/** A held or idle queue reads its definition again this often (windows, policy or auto-promotion may have changed). */
const REREAD_MS = 5 * 60_000;
/** Marks runs whose idle queue reads its definition again (every run since auto-promotion). */
const IDLE_REREAD = 'queue-idle-reread';
/** Marks runs whose locks and freezes are checked against the control list. */
const CONTROL_CHECKED = 'queue-control-checked';

export async function queue(input: QueueInput): Promise<void> {
  const { environment } = input;
  // Carried state comes only from this workflow's own continue-as-new, never from a client's start.
  const state = new QueueState(environment, workflowInfo().continuedFromExecutionRunId ? input.carried : undefined);
  const info = () => workflowInfo();
  setHandler(queueStatusQuery, () => state.status(info().workflowId, info().runId));
  const notices = new QueueNotices(state);

  let rules: { read: number; value: QueueRules } | undefined;
  const readRules = async (): Promise<QueueRules> => {
    const value = await definitions.queueRules({ name: environment });
    rules = { read: Date.now(), value };
    state.window = value.window;
    state.policy = value.queue.policy;
    state.autoPromotion = value.promotion ?? null;
    state.settings = value.queue;
    notices.use(value.notifications);
    return value;
  };

  // Requests take turns, so their order is their arrival, whatever the activities' timing.
  let ticket = 0;
  let serving = 0;
  setHandler(
    enqueueUpdate,
    async (request: DeployInput): Promise<EnqueueAnswer> => {
      const mine = ticket++;
      await condition(() => serving === mine);
      let entry: QueuedRequest;
      let replaced: string[] = [];
      try {
        let same = state.same(request);
        // A repeat of the running request may have arrived in the same workflow task as that run's
        // end: look again after a timer, once every job of this task has landed, so it never attaches to a run that ended.
        if (same && same.id === state.running?.id) {
          await sleep(1);
          same = state.same(request);
        }
        if (same) return answer(state, same, 'attached', []);
        const current = await readRules().catch((err: unknown) => {
          throw ApplicationFailure.nonRetryable(describeFailure(err), failureTypes.unknownEnvironment);
        });
        if (state.pending.length >= current.queue.maxPending) {
          throw ApplicationFailure.nonRetryable(
            `${environment}'s queue is full: ${state.pending.length} requests wait (queue.maxPending ${current.queue.maxPending}); wait for them, or raise maxPending in the definition`,
            failureTypes.invalidInput,
          );
        }
        const added = state.add(request, current.queue);
        entry = added.entry;
        replaced = added.replaced.map((r) => r.id);
        state.record(`${entry.id} ${entry.kind === 'rollback' ? 'rollback to' : 'deploy'} ${entry.release} requested by ${entry.requestedBy}`, entry.requestedBy);
        for (const old of added.replaced) {
          state.record(`${old.id} ${old.release} superseded by ${entry.id} ${entry.release} (latest-wins), which carries its requesters`);
          notices.superseded(old);
        }
      } finally {
        serving++;
      }
      // Answer once the loop has started it, or weighed it and found it must wait.
      await condition(() => state.carrying || state.running?.id === entry.id || (!state.isPending(entry.id) && state.starting?.id !== entry.id) || (state.isPending(entry.id) && (state.running !== null || state.starting !== null || state.weighedSince(entry.id))));
      return answer(state, entry, state.running?.id === entry.id ? 'started' : 'queued', replaced);
    },
    { validator: validateRequest(environment) },
  );
  // Locks and freezes come from the definition's control list (anyone where it is open), checked on the orchestrator.
  const mayControl = async (by: string, action: string): Promise<void> => {
    // Queues from before the check took a lock from anyone; their histories replay as they ran.
    if (!patched(CONTROL_CHECKED)) return;
    const check = await definitions.queueControlCheck({ name: environment, by, action }).catch((err: unknown) => {
      throw ApplicationFailure.nonRetryable(describeFailure(err), failureTypes.unknownEnvironment);
    });
    if (!check.allowed) throw ApplicationFailure.nonRetryable(check.why, failureTypes.notPermitted);
  };
  setHandler(
    lockUpdate,
    async ({ by, reason, expiresAt }) => {
      await mayControl(by, 'lock');
      state.setLock({ by, reason, since: new Date().toISOString(), expiresAt: expiresAt ?? null, automatic: false }, by);
      return state.status(info().workflowId, info().runId);
    },
    { validator: validateLock },
  );
  setHandler(
    unlockUpdate,
    async ({ by }) => {
      await mayControl(by, 'unlock');
      if (state.lock) state.setLock(null, by);
      return state.status(info().workflowId, info().runId);
    },
    { validator: validateUnlock },
  );
  setHandler(
    freezeUpdate,
    async ({ by, reason, until }) => {
      await mayControl(by, 'freeze');
      state.setFreeze({ by, reason, since: new Date().toISOString(), until }, by);
      return state.status(info().workflowId, info().runId);
    },
    { validator: validateFreeze },
  );
  setHandler(
    unfreezeUpdate,
    async ({ by }) => {
      await mayControl(by, 'unfreeze');
      if (state.freeze) state.setFreeze(null, by);
      return state.status(info().workflowId, info().runId);
    },
    { validator: validateUnlock },
  );

  const longHistory = () => info().continueAsNewSuggested || info().historyLength > HISTORY_LIMIT;
  // promotion.auto: offer the newest release baked upstream, once; read the definition again first (auto may be off now).
  const offerPromotion = async (): Promise<void> => {
    const current = await readRules().catch(() => undefined);
    const auto = current?.promotion;
    if (!current || !auto) return;
    // Upstream unreadable for now: ask again at the next check.
    const candidate = await promotions.promotionCandidate({ from: auto.from, to: environment, bakeMs: auto.bakeMs }).catch(() => undefined);
    // Offered once: not when it waits here already, or the queue saw it before (run, superseded, covered).
    if (!candidate?.release || state.knows(candidate.release)) return;
    const request: DeployInput = { environment, release: candidate.release, promote: true, requestedBy: `gantry:auto-promotion from ${auto.from}`, shape: { ...DEFAULT_SHAPE } };
    const { entry } = state.add(request, current.queue);
    state.record(`${entry.id} promote ${entry.release} from ${auto.from} by itself: ${candidate.why}`, request.requestedBy);
  };

  for (;;) {
    const idle = () => state.pending.length > 0 || longHistory();
    const auto = state.autoPromotion;
    if (auto) {
      if (!(await condition(idle, auto.checkEveryMs))) {
        await offerPromotion();
        continue;
      }
    } else if (patched(IDLE_REREAD)) {
      // An idle queue reads its definition now and then, so turning promotion.auto on needs no request.
      if (!(await condition(idle, REREAD_MS))) {
        await readRules().catch(() => undefined);
        continue;
      }
    } else await condition(idle);
    if (longHistory()) await carryOn(state, notices, environment);
    const seen = state.version;
    // Rules the request that just came read in this same workflow task serve the decision too.
    const current = rules && rules.read === Date.now() ? rules.value : await readRules().catch((err: unknown) => err as Error);
    if (current instanceof Error) {
      state.hold = { kind: 'definition', what: `the definition of ${environment} cannot be read: ${describeFailure(current)}`, clears: 'a valid definition in the orchestrator\'s directory (gantry check)' };
      state.weighed = state.lastId();
      await condition(() => state.version !== seen, REREAD_MS);
      continue;
    }
    state.expire(Date.now());
    const hold = state.holdOf(state.pending[0]!, Date.now());
    // "No green release yet" stands while the queue asks again, so status never flickers to "starting".
    if (hold || state.hold?.kind !== 'checks') state.hold = hold;
    state.weighed = state.lastId();
    if (hold) {
      const wait = hold.until ? Math.min(REREAD_MS, Math.max(0, Date.parse(hold.until) - Date.now())) : REREAD_MS;
      await condition(() => state.version !== seen, wait);
      continue;
    }
    // batch with CI: the newest waiting release whose checks passed; newer failing ones are left out, newer pending ones wait.
    let upTo: string | undefined;
    const candidates = current.batchChecks ? state.batchCandidates(current.queue) : [];
    if (current.batchChecks && candidates.length > 0) {
      // CI or git unreadable: take the newest, as without CI; the deployment's own gate then waits for its checks.
      const releases = candidates.map((c) => c.release);
      const pick = await verification.newestGreen({ source: current.batchChecks.source, ci: current.batchChecks.ci, releases }).catch(() => ({ green: releases.at(-1) ?? null, failed: [], pending: [] }));
      for (const f of pick.failed) {
        const r = candidates.find((c) => c.release === f.release);
        if (r) state.drop(r.id, f.why);
      }
      const green = pick.green === null ? undefined : [...candidates].reverse().find((c) => c.release === pick.green);
      if (!green) {
        if (state.pending.length === 0) state.hold = null;
        else {
          state.hold = { kind: 'checks', what: `no waiting release is green yet (${pick.pending.join(', ') || 'none'} pending CI)`, clears: 'a waiting release passes its checks (asked again every ci.pollInterval)' };
          state.weighed = state.lastId();
          await condition(() => state.version !== seen, Math.max(current.batchChecks.pollIntervalMs, 1_000));
        }
        continue;
      }
      upTo = green.id;
    }
    const entry = state.take(current.queue, upTo);
    const child = await startDeployment(state, entry);
    if (!child) continue;
    state.started(entry, child.workflowId, child.firstExecutionRunId);
    const outcome = await outcomeOf(entry, child);
    state.ended(outcome);
    if (outcome.status === 'rolled-back' && entry.kind === 'deploy' && current.queue.lockOnRollback) {
      const reason = `${entry.release} failed and rolled back${outcome.error ? `: ${outcome.error}` : ''}`;
      // A lock someone set meanwhile stays (with its reason and expiry); the cause is recorded beside it.
      if (state.lock && !state.lock.automatic) state.record(`${entry.release} failed and rolled back; ${environment} stays locked by ${state.lock.by}: ${state.lock.reason}`);
      else state.setLock({ by: 'gantry', reason, since: new Date().toISOString(), expiresAt: null, automatic: true, release: entry.release }, 'gantry');
      notices.locked(entry, reason);
    }
  }
}

// Between deployments only (nothing running), so no child outlives the run that awaits it.
async function carryOn(state: QueueState, notices: QueueNotices, environment: string): Promise<never> {
  // Requests still waiting for their answer get "queued" now (they travel to the next run), so the handlers can finish.
  state.carrying = true;
  await notices.settle();
  await condition(allHandlersFinished);
  return continueAsNew<typeof queue>({ environment, carried: state.snapshot() });
}

function answer(state: QueueState, entry: QueuedRequest, status: EnqueueAnswer['status'], replaced: string[]): EnqueueAnswer {
  const running = state.running?.id === entry.id ? state.running : undefined;
  return {
    id: entry.id,
    status,
    position: state.position(entry.id),
    ...(running ? { deployment: { workflowId: running.workflowId, runId: running.runId } } : {}),
    replaced,
    hold: running ? null : state.status('', '').hold,
  };
}

// A behaviour may only be named on a versioned worker; an unversioned one (tests, simulations)
// would have its every task rejected.
setWorkflowOptions(
  () => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'AUTO_UPGRADE' as const } : {}),
  queue,
);
