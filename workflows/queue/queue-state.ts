// The queue's state and its decisions: where a request goes under each policy, which one starts next,
// and what holds it. Plain deterministic code (times come from the workflow's clock); it survives
// continue-as-new through snapshot().
import type { QueuePolicy, QueueSettings } from '../../lib/config/queue-schema';
import type { WindowState } from '../../lib/queue/windows';
import type { DeployEvent, DeployInput } from '../api';
import type {
  FinishedRequest,
  Hold,
  QueueFreeze,
  QueueLock,
  QueuedRequest,
  QueueSnapshot,
  QueueStatus,
  RunningRequest,
  SupersededRequest,
} from '../queue-api';

const KEEP = { superseded: 50, finished: 20, events: 100 } as const;
const keepLast = <T>(list: T[], n: number): T[] => (list.length > n ? list.slice(list.length - n) : list);
const idNumber = (id: string) => Number(id.slice(1));

export class QueueState {
  pending: QueuedRequest[] = [];
  running: RunningRequest | null = null;
  /** Taken off the queue, its child not started yet. */
  starting: QueuedRequest | null = null;
  superseded: SupersededRequest[] = [];
  finished: FinishedRequest[] = [];
  lock: QueueLock | null = null;
  freeze: QueueFreeze | null = null;
  window: WindowState | null = null;
  policy: QueuePolicy | null = null;
  autoPromotion: { from: string; bakeMs: number; checkEveryMs: number } | null = null;
  settings: QueueSettings | null = null;
  hold: Hold | null = null;
  events: DeployEvent[] = [];
  nextId = 1;
  /** Continuing as new: answers go out as "queued" (the request travels to the next run). */
  carrying = false;
  /** Bumped by every change the loop must look at again. */
  version = 0;
  /** The newest request the loop has weighed (a held request's answer waits for this). */
  weighed = 0;

  constructor(
    readonly environment: string,
    carried?: QueueSnapshot,
  ) {
    if (!carried) return;
    this.pending = carried.pending;
    this.running = carried.running;
    this.superseded = carried.superseded;
    this.finished = carried.finished;
    this.lock = carried.lock;
    this.freeze = carried.freeze;
    this.window = carried.window;
    this.policy = carried.policy;
    this.autoPromotion = carried.autoPromotion ?? null;
    this.settings = carried.settings ?? null;
    this.events = carried.events;
    this.nextId = carried.nextId;
  }

  snapshot(): QueueSnapshot {
    const { environment, policy, running, pending, superseded, finished, lock, freeze, window, events, nextId, autoPromotion, settings } = this;
    // Absent unless set, so a snapshot from a queue without auto-promotion stays as it was.
    return { environment, policy, running, pending, superseded, finished, lock, freeze, window, events, nextId, ...(autoPromotion ? { autoPromotion, settings } : {}) };
  }

  status(workflowId: string, runId: string): QueueStatus {
    const { nextId: _next, ...rest } = this.snapshot();
    return { workflowId, runId, ...rest, hold: this.currentHold() };
  }

  record(what: string, who?: string): void {
    this.events = keepLast([...this.events, { time: new Date().toISOString(), what, ...(who ? { who } : {}) }], KEEP.events);
    this.version++;
  }

  /** The request already here that this one repeats (a retried CI call, a redelivered webhook). */
  same(input: DeployInput): QueuedRequest | undefined {
    const kind = input.kind ?? 'deploy';
    return [this.running, this.starting, ...this.pending].find(
      (r): r is QueuedRequest =>
        r !== null &&
        r.release === input.release &&
        r.kind === kind &&
        r.commit === (input.commit ?? null) &&
        r.artifactSha256 === (input.artifactSha256 ?? null) &&
        r.requesters.includes(input.requestedBy),
    );
  }

  /** Where a new request goes under `policy`; returns it and the pending requests it replaced (latest-wins). */
  add(input: DeployInput, settings: QueueSettings): { entry: QueuedRequest; replaced: SupersededRequest[] } {
    const now = new Date().toISOString();
    const kind = input.kind ?? 'deploy';
    const id = `r${this.nextId++}`;
    const entry: QueuedRequest = {
      id,
      release: input.release,
      kind,
      commit: input.commit ?? null,
      artifactSha256: input.artifactSha256 ?? null,
      requestedBy: input.requestedBy,
      requesters: [input.requestedBy],
      covers: [{ id, release: input.release, requestedBy: input.requestedBy, requestedAt: now }],
      requestedAt: now,
      input,
    };
    let replaced: SupersededRequest[] = [];
    if (kind === 'rollback') {
      // The way out goes first: ahead of every deployment waiting, behind earlier rollbacks.
      const at = this.pending.findIndex((r) => r.kind !== 'rollback');
      this.pending.splice(at === -1 ? this.pending.length : at, 0, entry);
    } else {
      if (settings.policy === 'latest-wins') {
        const old = this.pending.filter((r) => r.kind === 'deploy');
        entry.requesters = [...new Set([...old.flatMap((r) => r.requesters), input.requestedBy])];
        replaced = old.map((r) => ({ id: r.id, release: r.release, requesters: r.requesters, requestedAt: r.requestedAt, supersededAt: now, by: { id: entry.id, release: entry.release } }));
        this.pending = this.pending.filter((r) => r.kind !== 'deploy');
        this.superseded = keepLast([...this.superseded, ...replaced], KEEP.superseded);
      }
      this.pending.push(entry);
    }
    this.policy = settings.policy;
    this.version++;
    return { entry, replaced };
  }

  /** Whether the queue has seen `release` (waiting, running, started, superseded, covered or ended): auto-promotion offers it once. */
  knows(release: string): boolean {
    const requests = [this.running, this.starting, ...this.pending].filter((r): r is QueuedRequest => r !== null);
    return (
      requests.some((r) => r.release === release || r.covers.some((c) => c.release === release)) ||
      this.superseded.some((r) => r.release === release) ||
      this.finished.some((r) => r.release === release)
    );
  }

  isPending(id: string): boolean {
    return this.pending.some((r) => r.id === id);
  }

  /** 0: running; 1: next; -1: not waiting here any more. */
  position(id: string): number {
    if (this.running?.id === id || this.starting?.id === id) return 0;
    const at = this.pending.findIndex((r) => r.id === id);
    return at === -1 ? -1 : at + 1;
  }

  /** What holds the next request right now, as status and answers show it (the loop may still be weighing a change). */
  currentHold(): Hold | null {
    if (this.running) return this.runningHold();
    if (this.hold?.kind === 'definition' || this.hold?.kind === 'outside') return this.hold;
    const head = this.pending[0];
    if (!head || this.starting) return null;
    // A lock or freeze comes first; else "no green release yet" while the batch waits for CI.
    return this.holdOf(head, Date.now()) ?? (this.hold?.kind === 'checks' ? this.hold : null);
  }

  /** What holds `head` from starting at `now`; a rollback passes locks, freezes and windows. */
  holdOf(head: QueuedRequest, now: number): Hold | null {
    // The way out passes every hold, except a "rollback" to the very release whose failure locked the environment.
    if (head.kind === 'rollback' && !(this.lock?.automatic && this.lock.release === head.release)) return null;
    return calendarHold(this, now);
  }

  /** batch: the deployments a batch may take now, oldest first (at most maxChanges, up to the first rollback). */
  batchCandidates(settings: QueueSettings): QueuedRequest[] {
    const batch: QueuedRequest[] = [];
    for (const r of this.pending) {
      if (r.kind !== 'deploy' || batch.length >= settings.maxChanges) break;
      batch.push(r);
    }
    return batch;
  }

  /** A waiting request that cannot go out (its checks failed): recorded as ended, never silently dropped. */
  drop(id: string, error: string): void {
    const r = this.pending.find((p) => p.id === id);
    if (!r) return;
    this.pending = this.pending.filter((p) => p.id !== id);
    this.finished = keepLast([...this.finished, { id, release: r.release, kind: r.kind, workflowId: '', runId: '', status: 'failed', endedAt: new Date().toISOString(), error }], KEEP.finished);
    this.record(`${id} ${r.release} left out: ${error}`);
  }

  /**
   * Takes the next deployment off the queue; under batch it covers the older pending releases too (at
   * most maxChanges), up to `upTo` when given (the newest green one: newer ones wait for a later batch).
   */
  take(settings: QueueSettings, upTo?: string): QueuedRequest {
    const head = this.pending[0]!;
    if (settings.policy !== 'batch' || head.kind === 'rollback') {
      this.pending.shift();
      return (this.starting = head);
    }
    const candidates = this.batchCandidates(settings);
    const end = upTo ? candidates.findIndex((r) => r.id === upTo) : -1;
    const batch = end === -1 ? candidates : candidates.slice(0, end + 1);
    const newest = batch[batch.length - 1]!;
    const entry: QueuedRequest = {
      ...newest,
      requesters: [...new Set(batch.flatMap((r) => r.requesters))],
      covers: batch.flatMap((r) => r.covers),
    };
    this.pending = this.pending.slice(batch.length);
    return (this.starting = entry);
  }

  started(entry: QueuedRequest, workflowId: string, runId: string): void {
    this.starting = null;
    this.running = { ...entry, workflowId, runId, startedAt: new Date().toISOString() };
    this.hold = null;
    this.record(`${entry.id} started ${workflowId} (run ${runId}): ${entry.kind === 'rollback' ? 'rollback to' : 'deploy'} ${entry.release}${entry.covers.length > 1 ? `, covering ${entry.covers.map((c) => c.release).join(', ')}` : ''}`);
  }

  ended(outcome: FinishedRequest): void {
    this.running = null;
    this.starting = null;
    this.finished = keepLast([...this.finished, outcome], KEEP.finished);
    this.record(`${outcome.id} ${outcome.release} ended ${outcome.status}${outcome.error ? `: ${outcome.error}` : ''}`);
  }

  setLock(lock: QueueLock | null, who: string): void {
    this.lock = lock;
    this.record(lock ? `locked${lock.expiresAt ? ` until ${lock.expiresAt}` : ''}: ${lock.reason}` : 'unlocked', who);
  }

  setFreeze(freeze: QueueFreeze | null, who: string): void {
    this.freeze = freeze;
    this.record(freeze ? `frozen until ${freeze.until}: ${freeze.reason}` : 'unfrozen', who);
  }

  /** Nothing is waiting: how many requests were ever taken (for messages). */
  lastId(): number {
    return this.nextId - 1;
  }

  /** Was the request weighed by the loop since it arrived? */
  weighedSince(id: string): boolean {
    return this.weighed >= idNumber(id);
  }

  private runningHold(): Hold {
    const r = this.running!;
    return { kind: 'running', what: `${r.workflowId} (run ${r.runId}) is ${r.kind === 'rollback' ? 'rolling back to' : 'deploying'} ${r.release}, requested by ${r.requesters.join(', ')}`, clears: 'it ends (or `gantry abort`)' };
  }

  /** Lifts a lock or freeze whose time is up (the loop, before it weighs the next request). */
  expire(now: number): void {
    if (this.lock?.expiresAt && Date.parse(this.lock.expiresAt) <= now) this.setLock(null, 'expiry');
    if (this.freeze && Date.parse(this.freeze.until) <= now) this.setFreeze(null, 'expiry');
  }
}

/** The lock, freeze or closed deploy window that holds a deployment at `now` (status, answers and `gantry why` say the same). */
export function calendarHold(q: Pick<QueueStatus, 'environment' | 'lock' | 'freeze' | 'window'>, now: number): Hold | null {
  const unlock = `\`gantry unlock ${q.environment}\``;
  if (q.lock && !(q.lock.expiresAt && Date.parse(q.lock.expiresAt) <= now)) {
    const { by, reason, since, expiresAt, automatic } = q.lock;
    return {
      kind: 'lock',
      what: `${q.environment} is locked${automatic ? ' (automatically, after a rollback)' : ''} by ${by} since ${since}: ${reason}`,
      clears: expiresAt ? `the lock expires at ${expiresAt}, or ${unlock}` : unlock,
      ...(expiresAt ? { until: expiresAt } : {}),
    };
  }
  if (q.freeze && Date.parse(q.freeze.until) > now) {
    const { by, reason, until } = q.freeze;
    return { kind: 'freeze', what: `${q.environment} is frozen by ${by} until ${until}: ${reason}`, clears: `the freeze ends at ${until}, or \`gantry unfreeze ${q.environment}\``, until };
  }
  if (q.window && !q.window.open) {
    const opens = q.window.opensAt;
    return {
      kind: 'window',
      what: `outside ${q.environment}'s deploy windows (${q.window.described})`,
      clears: opens ? `the next window opens at ${opens}` : 'no window ever opens again: change windows in the definition',
      ...(opens ? { until: opens } : {}),
    };
  }
  return null;
}
