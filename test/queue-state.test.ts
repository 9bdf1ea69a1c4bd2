// The queue's decisions as plain code: where a request goes under each policy, what the next
// deployment covers, what holds it (lock, freeze, window; never a rollback), and deploy windows.
import { describe, expect, it } from 'vitest';
import { queueSchema, windowSchema, type QueueSettings } from '../lib/config/queue-schema';
import { windowState } from '../lib/queue/windows';
import type { DeployInput } from '../workflows/api';
import { QueueState } from '../workflows/queue/queue-state';

const settings = (patch: Partial<QueueSettings> = {}): QueueSettings => ({ ...queueSchema.parse({}), ...patch });
const input = (release: string, requestedBy = 'alice', extra: Partial<DeployInput> = {}): DeployInput =>
  ({ environment: 'prod', release, requestedBy, artifactSha256: 'a'.repeat(64), ...extra });
const HOUR = 3_600_000;

describe('queue policies', () => {
  it('fifo keeps every request, in order', () => {
    const q = new QueueState('prod');
    for (const r of ['v2', 'v3', 'v4']) q.add(input(r), settings());
    expect(q.pending.map((p) => [p.id, p.release])).toEqual([['r1', 'v2'], ['r2', 'v3'], ['r3', 'v4']]);
    expect(q.take(settings()).release).toBe('v2');
    expect(q.position('r3')).toBe(2);
  });

  it('latest-wins replaces the pending request, hands its requesters on and records what it superseded', () => {
    const q = new QueueState('prod');
    const lw = settings({ policy: 'latest-wins' });
    q.add(input('v2', 'alice'), lw);
    q.add(input('v3', 'bob'), lw);
    const { entry, replaced } = q.add(input('v4', 'carol'), lw);
    expect(q.pending.map((p) => p.release)).toEqual(['v4']);
    expect(entry.requesters).toEqual(['alice', 'bob', 'carol']);
    expect(replaced.map((r) => [r.release, r.by.release])).toEqual([['v3', 'v4']]);
    expect(q.superseded.map((r) => [r.id, r.release, r.by.id])).toEqual([['r1', 'v2', 'r2'], ['r2', 'v3', 'r3']]);
    expect(q.isPending('r1')).toBe(false);
  });

  it('batch deploys the newest pending release, covering the older ones up to maxChanges', () => {
    const q = new QueueState('prod');
    const batch = settings({ policy: 'batch', maxChanges: 3 });
    ['v2', 'v3', 'v4', 'v5'].forEach((r, i) => q.add(input(r, `dev${i}`), batch));
    const next = q.take(batch);
    expect(next.release).toBe('v4');
    expect(next.covers.map((c) => [c.release, c.requestedBy])).toEqual([['v2', 'dev0'], ['v3', 'dev1'], ['v4', 'dev2']]);
    expect(next.requesters).toEqual(['dev0', 'dev1', 'dev2']);
    expect(q.pending.map((p) => p.release)).toEqual(['v5']);
  });

  it('batch up to the newest green one leaves newer ones waiting; a failing one is recorded as ended', () => {
    const q = new QueueState('prod');
    const batch = settings({ policy: 'batch' });
    ['v2', 'v3', 'v4', 'v5'].forEach((r) => q.add(input(r), batch));
    expect(q.batchCandidates(batch).map((c) => c.release)).toEqual(['v2', 'v3', 'v4', 'v5']);
    q.drop('r4', 'check "build" failed on commit abc');
    const next = q.take(batch, 'r2');
    expect(next.covers.map((c) => c.release)).toEqual(['v2', 'v3']);
    expect(q.pending.map((p) => p.release)).toEqual(['v4']);
    expect(q.finished.at(-1)).toMatchObject({ id: 'r4', release: 'v5', status: 'failed', error: 'check "build" failed on commit abc' });
  });

  it('a rollback goes ahead of every waiting deployment, behind earlier rollbacks, and passes a lock, a freeze and a closed window', () => {
    const q = new QueueState('prod');
    q.add(input('v3'), settings());
    q.add(input('v1', 'bob', { kind: 'rollback' }), settings());
    q.add(input('v0', 'carol', { kind: 'rollback' }), settings());
    expect(q.pending.map((p) => `${p.kind} ${p.release}`)).toEqual(['rollback v1', 'rollback v0', 'deploy v3']);
    const now = Date.now();
    q.setLock({ by: 'dan', reason: 'maintenance', since: new Date(now).toISOString(), expiresAt: null, automatic: false }, 'dan');
    q.setFreeze({ by: 'erin', reason: 'sales', since: new Date(now).toISOString(), until: new Date(now + HOUR).toISOString() }, 'erin');
    q.window = { open: false, opensAt: new Date(now + HOUR).toISOString(), described: '0 9 * * 1-5 for 480 min (UTC)' };
    expect(q.holdOf(q.pending[0]!, now)).toBeNull();
    expect(q.holdOf(q.pending[2]!, now)).toMatchObject({ kind: 'lock' });
  });

  it('a repeated request is the same one only with the same release, digest and requester', () => {
    const q = new QueueState('prod');
    q.add(input('v2', 'alice'), settings());
    expect(q.same(input('v2', 'alice'))?.id).toBe('r1');
    expect(q.same(input('v2', 'alice', { artifactSha256: 'b'.repeat(64) }))).toBeUndefined();
    expect(q.same(input('v2', 'bob'))).toBeUndefined();
  });
});

describe('what holds the next deployment', () => {
  const lockAt = (now: number, expiresAt: number | null) => ({ by: 'dan', reason: 'maintenance', since: new Date(now).toISOString(), expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(), automatic: false });

  it('names the lock first, then the freeze, then the window, each with what clears it', () => {
    const now = Date.now();
    const q = new QueueState('prod');
    q.add(input('v2'), settings());
    const head = q.pending[0]!;
    q.window = { open: false, opensAt: new Date(now + 2 * HOUR).toISOString(), described: '0 9 * * 1-5 for 480 min (UTC)' };
    expect(q.holdOf(head, now)).toMatchObject({ kind: 'window', until: q.window.opensAt, clears: `the next window opens at ${q.window.opensAt}` });
    q.setFreeze({ by: 'erin', reason: 'sales', since: new Date(now).toISOString(), until: new Date(now + HOUR).toISOString() }, 'erin');
    expect(q.holdOf(head, now)).toMatchObject({ kind: 'freeze', clears: expect.stringContaining('gantry unfreeze prod') as unknown });
    q.setLock(lockAt(now, now + HOUR), 'dan');
    const lock = q.holdOf(head, now)!;
    expect(lock.kind).toBe('lock');
    expect(lock.what).toBe(`prod is locked by dan since ${new Date(now).toISOString()}: maintenance`);
    expect(lock.clears).toContain('gantry unlock prod');
  });

  it('a lock or freeze whose time is up holds nothing and is lifted', () => {
    const now = Date.now();
    const q = new QueueState('prod');
    q.add(input('v2'), settings());
    q.setLock(lockAt(now - HOUR, now - 1), 'dan');
    q.setFreeze({ by: 'erin', reason: 'sales', since: new Date(now - HOUR).toISOString(), until: new Date(now - 1).toISOString() }, 'erin');
    expect(q.holdOf(q.pending[0]!, now)).toBeNull();
    q.expire(now);
    expect([q.lock, q.freeze]).toEqual([null, null]);
    expect(q.events.slice(-2).map((e) => [e.what, e.who])).toEqual([['unlocked', 'expiry'], ['unfrozen', 'expiry']]);
  });

  it('carries everything but the hold through continue-as-new', () => {
    const q = new QueueState('prod');
    q.add(input('v2'), settings({ policy: 'latest-wins' }));
    q.add(input('v3'), settings({ policy: 'latest-wins' }));
    const next = new QueueState('prod', q.snapshot());
    expect(next.snapshot()).toEqual(q.snapshot());
    expect(next.add(input('v4'), settings()).entry.id).toBe('r3');
  });
});

describe('deploy windows', () => {
  const weekdays = windowSchema.parse({ cron: '0 9 * * 1-5', duration: '8h', timezone: 'Europe/Berlin' });

  it('is open inside a window until it closes, and names the next opening outside', () => {
    // Friday 2026-12-04: 09:00 in Berlin is 08:00 UTC.
    expect(windowState([weekdays], new Date('2026-12-04T10:00:00Z'))).toMatchObject({ open: true, closesAt: '2026-12-04T16:00:00.000Z' });
    expect(windowState([weekdays], new Date('2026-12-04T08:00:00Z'))).toMatchObject({ open: true });
    // Saturday: the next window is Monday's.
    expect(windowState([weekdays], new Date('2026-12-05T10:00:00Z'))).toEqual({ open: false, opensAt: '2026-12-07T08:00:00.000Z', described: '0 9 * * 1-5 for 480 min (Europe/Berlin)' });
    expect(windowState([], new Date())).toBeNull();
  });

  it('where windows overlap, the open period lasts to the latest close', () => {
    const late = windowSchema.parse({ cron: '0 15 * * *', duration: '4h', timezone: 'UTC' });
    expect(windowState([weekdays, late], new Date('2026-12-04T15:30:00Z'))).toMatchObject({ open: true, closesAt: '2026-12-04T19:00:00.000Z' });
  });

  it('refuses a bad expression, an unknown time zone and an unknown key, naming the field', () => {
    const issue = (raw: unknown) => windowSchema.safeParse(raw).error?.issues[0];
    expect(issue({ cron: '0 25 * * *', duration: '1h' })).toMatchObject({ path: ['cron'], message: expect.stringContaining('is not a cron expression') as unknown });
    expect(issue({ cron: '0 9 * * *', duration: '1h', timezone: 'Mars/Olympus' })).toMatchObject({ path: ['timezone'], message: expect.stringContaining('unknown time zone') as unknown });
    expect(issue({ cron: '0 9 * * *', duration: '1h', tz: 'UTC' })?.message).toMatch(/tz/);
    expect(queueSchema.safeParse({ policy: 'newest' }).success).toBe(false);
  });
});
