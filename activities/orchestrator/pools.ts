// Blue-green's orchestrator activities: which pool the HAProxy map routes to, the switch (one
// `commit map`, then the map file rewritten so a reload keeps the routing), the post-switch watch of
// the new pool's backend counters, the smoke tests through the shadow address, and ending a warm period.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BlueGreen, LoadBalancer, PoolName } from '../../lib/config/environment-schema';
import { failureTypes } from '../../lib/core/failure-types';
import type { Logger } from '../../lib/core/logger';
import { sleep } from '../../lib/core/wait';
import { HaproxyClient, type BackendCounters } from '../../lib/lb/haproxy';
import { runSmokeCheck, runSmokeCommand, type SmokeResult } from '../../lib/node/smoke-checks';

export interface PoolRouting {
  live: PoolName;
  idle: PoolName;
}

export interface SwitchInput {
  lb: LoadBalancer;
  strategy: BlueGreen;
  /** The pool users reach after the switch; the other one answers the shadow address. */
  live: PoolName;
}

export interface WatchInput {
  lb: LoadBalancer;
  backend: string;
  durationMs: number;
  intervalMs: number;
  max5xx: number;
  maxConnectionErrors: number;
}

export type WatchResult = { breached: false; counts: { http5xx: number; connectionErrors: number; requests: number } } | { breached: true; reason: string; counts: { http5xx: number; connectionErrors: number; requests: number } };

const other = (pool: PoolName): PoolName => (pool === 'blue' ? 'green' : 'blue');

export function createPoolActivities({ logger }: { logger: Logger }) {
  const haproxy = (lb: LoadBalancer) => new HaproxyClient(lb.socket);

  return {
    /** The pool the map's live entry names now. */
    async readRouting({ lb, strategy }: { lb: LoadBalancer; strategy: BlueGreen }): Promise<PoolRouting> {
      let entries: Record<string, string>;
      try {
        entries = await haproxy(lb).showMap(strategy.map.file);
      } catch (err) {
        if (/has no map/.test((err as Error).message)) throw ApplicationFailure.nonRetryable((err as Error).message, failureTypes.poolMapInvalid);
        throw err;
      }
      const backend = entries[strategy.map.key];
      const live = (['blue', 'green'] as const).find((pool) => strategy.pools[pool].backend === backend);
      if (!live) {
        throw ApplicationFailure.nonRetryable(
          `HAProxy map ${strategy.map.file}: entry "${strategy.map.key}" is ${backend === undefined ? 'missing' : `"${backend}"`}, not a pool's backend (${strategy.pools.blue.backend} or ${strategy.pools.green.backend}); add "${strategy.map.key} ${strategy.pools.blue.backend}" to the file and reload HAProxy`,
          failureTypes.poolMapInvalid,
        );
      }
      return { live, idle: other(live) };
    },

    /** Routes users to `live` and the shadow address to the other pool; idempotent. `switchedAt`: when HAProxy took it. */
    async switchPools({ lb, strategy, live }: SwitchInput): Promise<{ switchedAt: number; changed: boolean }> {
      const client = haproxy(lb);
      const { file, key, shadowKey } = strategy.map;
      const now = await client.showMap(file);
      // Only this environment's two entries change: a map other apps share keeps theirs.
      const wanted: Record<string, string> = { ...now, [key]: strategy.pools[live].backend, [shadowKey]: strategy.pools[other(live)].backend };
      const changed = now[key] !== wanted[key] || now[shadowKey] !== wanted[shadowKey];
      if (changed) await client.replaceMap(file, wanted);
      const switchedAt = Date.now();
      // A reload reads the file: write it aside and rename, so HAProxy never reads half of it.
      const scratch = await mkdtemp(path.join(path.dirname(file), '.map-'));
      try {
        const next = path.join(scratch, path.basename(file));
        await writeFile(next, Object.entries(wanted).map(([k, v]) => `${k} ${v}\n`).join(''));
        await rename(next, file);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
      logger.info({ map: file, live, backend: wanted[key], changed }, changed ? 'switched the live pool' : 'the live pool was already this one');
      return { switchedAt, changed };
    },

    /** How many of a pool's servers HAProxy can send traffic to: a switch back goes only to a pool that can serve. */
    async activeServers({ lb, backend }: { lb: LoadBalancer; backend: string }): Promise<number> {
      return (await haproxy(lb).backendCounters(backend)).activeServers;
    },

    /** Watches a backend's 5xx and connection errors for `durationMs`; ends early at a breach. Heartbeats its baseline, so a retry keeps counting from it. */
    async watchPool(input: WatchInput): Promise<WatchResult> {
      const ctx = Context.current();
      const client = haproxy(input.lb);
      const saved = ctx.info.heartbeatDetails as { baseline: BackendCounters; startedAt: number } | undefined;
      const baseline = saved?.baseline ?? (await client.backendCounters(input.backend));
      const startedAt = saved?.startedAt ?? Date.now();
      for (;;) {
        const now = await client.backendCounters(input.backend);
        const counts = { http5xx: now.http5xx - baseline.http5xx, connectionErrors: now.connectionErrors - baseline.connectionErrors, requests: now.sessions - baseline.sessions };
        ctx.heartbeat({ baseline, startedAt, counts });
        const over: string[] = [];
        if (counts.http5xx > input.max5xx) over.push(`${counts.http5xx} 5xx answers (at most ${input.max5xx})`);
        if (counts.connectionErrors > input.maxConnectionErrors) over.push(`${counts.connectionErrors} connection errors (at most ${input.maxConnectionErrors})`);
        if (over.length > 0) {
          const reason = `backend ${input.backend} gave ${over.join(' and ')} in ${Math.round((Date.now() - startedAt) / 1000)} s after the switch, of ${counts.requests} requests`;
          logger.warn({ backend: input.backend, counts }, reason);
          return { breached: true, reason, counts };
        }
        if (Date.now() - startedAt >= input.durationMs) return { breached: false, counts };
        await sleep(Math.min(input.intervalMs, Math.max(0, startedAt + input.durationMs - Date.now())), undefined, { signal: ctx.cancellationSignal });
      }
    },

    /** The definition's smoke tests against the shadow address: every check runs (one after another), then the command. */
    async smokeTest({ strategy }: { strategy: BlueGreen }): Promise<SmokeResult[]> {
      const ctx = Context.current();
      const results: SmokeResult[] = [];
      for (const check of strategy.smoke.checks) {
        results.push(await runSmokeCheck(strategy.shadow.url, check, ctx.cancellationSignal));
        ctx.heartbeat({ done: results.length });
      }
      if (strategy.smoke.command) {
        const cwd = await mkdtemp(path.join(os.tmpdir(), 'gantry-smoke-'));
        try {
          results.push(await runSmokeCommand(strategy.smoke.command, strategy.shadow.url, strategy.smoke.timeout, cwd, ctx.cancellationSignal));
        } finally {
          await rm(cwd, { recursive: true, force: true });
        }
      }
      logger.info({ shadow: strategy.shadow.url, passed: results.filter((r) => r.passed).length, failed: results.filter((r) => !r.passed).length }, 'smoke tests ran');
      return results;
    },

    /**
     * Ends the warm period of an earlier deployment before a new one touches the idle pool: the warm
     * workflow is told it is superseded and this waits until it closed (it may be stopping a pool).
     */
    async endWarmPeriod({ workflowId }: { workflowId: string }): Promise<{ ended: boolean }> {
      const ctx = Context.current();
      const handle = ctx.client.workflow.getHandle(workflowId);
      try {
        const { status } = await handle.describe();
        if (status.name !== 'RUNNING') return { ended: false };
        await handle.signal('supersede');
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { ended: false };
        throw err;
      }
      const beat = setInterval(() => ctx.heartbeat(), 1_000);
      try {
        await handle.result().catch(() => undefined);
      } finally {
        clearInterval(beat);
      }
      return { ended: true };
    },
  };
}

export type PoolActivities = ReturnType<typeof createPoolActivities>;
