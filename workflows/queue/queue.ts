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

export async function queue(input: QueueInput): Promise<void> {
  const { environment } = input;
  const state = new QueueState(environment, input.carried);
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
      // Yield once more, so every other job of this workflow task lands first: a child's completion
      // can arrive in the same task as a request that repeats it, which must not attach to a run that ended.
      await condition(() => true);
      let entry: QueuedRequest;
      let replaced: string[] = [];
      try {
        const same = state.same(request);
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
      await condition(() => state.running?.id === entry.id || (!state.isPending(entry.id) && state.starting?.id !== entry.id) || (state.isPending(entry.id) && (state.running !== null || state.starting !== null || state.weighedSince(entry.id))));
      return answer(state, entry, state.running?.id === entry.id ? 'started' : 'queued', replaced);
    },
    { validator: validateRequest(environment) },
  );
  setHandler(
    lockUpdate,
    ({ by, reason, expiresAt }) => {
      state.setLock({ by, reason, since: new Date().toISOString(), expiresAt: expiresAt ?? null, automatic: false }, by);
      return state.status(info().workflowId, info().runId);
    },
    { validator: validateLock },
  );
  setHandler(
    unlockUpdate,
    ({ by }) => {
      if (state.lock) state.setLock(null, by);
      return state.status(info().workflowId, info().runId);
    },
    { validator: validateUnlock },
  );
  setHandler(
    freezeUpdate,
    ({ by, reason, until }) => {
      state.setFreeze({ by, reason, since: new Date().toISOString(), until }, by);
      return state.status(info().workflowId, info().runId);
    },
    { validator: validateFreeze },
  );
  setHandler(
    unfreezeUpdate,
    ({ by }) => {
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
    const candidate = await promotions.promotionCandidate({ from: auto.from, to: environment, bakeMs: auto.bakeMs });
    // Held here (a lock, a window): it is waiting already.
    if (!candidate.release || state.pending.some((r) => r.release === candidate.release)) return;
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
      const pick = await verification.newestGreen({ source: current.batchChecks.source, ci: current.batchChecks.ci, releases: candidates.map((c) => c.release) });
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
          await condition(() => state.version !== seen, current.batchChecks.pollIntervalMs);
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
      state.setLock({ by: 'gantry', reason, since: new Date().toISOString(), expiresAt: null, automatic: true }, 'gantry');
      notices.locked(entry, reason);
    }
  }
}

// Between deployments only (nothing running), so no child outlives the run that awaits it.
async function carryOn(state: QueueState, notices: QueueNotices, environment: string): Promise<never> {
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
