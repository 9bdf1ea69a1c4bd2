// Orchestrator-side activities that talk to shared systems (load balancer, node health, chat and
// webhooks), never to a node's filesystem.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Channel, HealthCheck, LoadBalancer } from '../../lib/config/environment-schema';
import { HaproxyClient, lbState, type LoadBalancerApi } from '../../lib/lb/haproxy';
import { probe, type ProbeResult } from '../../lib/node/health';
import type { Logger } from '../../lib/core/logger';
import { sleep } from '../../lib/core/wait';
import { signBody, SIGNATURE_HEADER, slackMessage, type Notice } from '../../lib/notify/format';
import { readSecret, SecretError } from '../../lib/config/secrets';
import { postJson, WebhookError } from '../../lib/notify/post-json';
import { failureTypes } from '../../lib/core/failure-types';

export interface ControlDeps {
  logger: Logger;
  /** Where secrets named by variable are read; the worker's environment by default. */
  env?: NodeJS.ProcessEnv;
  /** The load balancer behind an environment's config; HAProxy's Runtime API unless a benchmark says otherwise. */
  loadBalancer?: (lb: LoadBalancer) => LoadBalancerApi;
}

export interface WaitHealthyInput {
  address: string;
  check: HealthCheck;
  /** Release the body must report (when the check says it reports one). */
  release?: string;
  /** Overrides for quick checks (preflight). */
  successThreshold?: number;
  deadlineMs?: number;
}

/** Remote activities heartbeat; the node workflow runs these same steps as local activities, which cannot. */
function beat(ctx: Context, details: Record<string, unknown>): void {
  if (!ctx.info.isLocal) ctx.heartbeat(details);
}

export function createControlActivities({ logger, env = process.env, loadBalancer }: ControlDeps) {
  const haproxy = loadBalancer ?? ((lb: LoadBalancer) => new HaproxyClient(lb.socket));

  return {
    /** One notification to one channel. URL and secret are read here, never passed in. */
    async notify({ channel, notice, timeoutMs }: { channel: Channel; notice: Notice; timeoutMs: number }): Promise<void> {
      let url: string;
      let secret: string | undefined;
      try {
        url = await readSecret(channel.url, env);
        secret = channel.secret ? await readSecret(channel.secret, env) : undefined;
      } catch (err) {
        if (err instanceof SecretError) throw ApplicationFailure.nonRetryable(`${channel.type} channel: ${err.message}`, failureTypes.notificationNotConfigured);
        throw err;
      }
      const body = channel.type === 'slack' ? slackMessage(notice) : notice;
      const sign = secret === undefined ? undefined : (raw: string) => ({ [SIGNATURE_HEADER]: signBody(secret, raw), 'x-gantry-event': notice.event });
      try {
        await postJson(url, body, timeoutMs, Context.current().cancellationSignal, sign);
      } catch (err) {
        if (err instanceof WebhookError && err.permanent) throw ApplicationFailure.nonRetryable(err.message, failureTypes.notificationRejected);
        throw err;
      }
    },

    /** Every named server exists in the backend; returns each one's state (ready, drain, maint, down). */
    async checkServers({ lb, servers }: { lb: LoadBalancer; servers: string[] }): Promise<Record<string, string>> {
      const stats = (await haproxy(lb).showStat()).filter((s) => s.backend === lb.backend);
      const missing = servers.filter((name) => !stats.some((s) => s.server === name));
      if (missing.length > 0) {
        throw ApplicationFailure.nonRetryable(
          `HAProxy backend ${lb.backend} has no server ${missing.join(', ')} (servers: ${stats.map((s) => s.server).join(', ') || 'none'})`,
          failureTypes.unknownServer,
        );
      }
      return Object.fromEntries(servers.map((name) => [name, lbState(stats.find((s) => s.server === name)!.status)]));
    },

    /** drain → wait for zero sessions and an empty queue → maint. Safe to repeat. */
    /** `drainAt`: when the server stopped taking new requests (HAProxy no longer counts it as usable). */
    async drain({ lb, server }: { lb: LoadBalancer; server: string }): Promise<{ waitedMs: number; drainAt: number; already: boolean }> {
      const client = haproxy(lb);
      const ctx = Context.current();
      const log = logger.child({ backend: lb.backend, server });
      const before = await client.serverStat(lb.backend, server);
      if (before.status.startsWith('MAINT')) return { waitedMs: 0, drainAt: Date.now(), already: true };
      if (lb.agentCheck) await client.setAgentCheck(lb.backend, server, false);
      // Taken before the command: downtime figures err on the long side, never the short one.
      const started = Date.now();
      await client.setServerState(lb.backend, server, 'drain');
      for (;;) {
        const stat = await client.serverStat(lb.backend, server);
        beat(ctx, { scur: stat.scur, qcur: stat.qcur });
        if (stat.scur === 0 && stat.qcur === 0) break;
        if (Date.now() - started > lb.drainTimeout && lb.onDrainTimeout === 'shutdown-sessions') {
          log.warn({ scur: stat.scur, qcur: stat.qcur, drainTimeout: lb.drainTimeout }, 'drain deadline passed; ending the sessions still open');
          await client.shutdownSessions(lb.backend, server);
          break;
        }
        if (Date.now() - started > lb.drainTimeout) {
          throw ApplicationFailure.nonRetryable(
            `server ${server} still has ${stat.scur} sessions and ${stat.qcur} queued after ${lb.drainTimeout} ms of draining`,
            failureTypes.drainTimeout,
          );
        }
        await sleep(lb.pollInterval, undefined, { signal: ctx.cancellationSignal });
      }
      await client.setServerState(lb.backend, server, 'maint');
      const waitedMs = Date.now() - started;
      log.info({ waitedMs }, 'server drained and in maintenance');
      return { waitedMs, drainAt: started, already: false };
    },

    /** Each server's state as HAProxy has it now (ready, drain, maint, down), or `missing`: what a result reports, read, not remembered. */
    async serverStates({ lb, servers }: { lb: LoadBalancer; servers: string[] }): Promise<Record<string, string>> {
      const stats = (await haproxy(lb).showStat()).filter((s) => s.backend === lb.backend);
      return Object.fromEntries(servers.map((name) => [name, (() => { const stat = stats.find((s) => s.server === name); return stat ? lbState(stat.status) : 'missing'; })()]));
    },

    /** Puts a server in MAINT (no drain: for one the result says must be out of rotation and is not). */
    async holdOut({ lb, server }: { lb: LoadBalancer; server: string }): Promise<void> {
      const client = haproxy(lb);
      // Else the agent-check's next "ready" undoes it.
      if (lb.agentCheck) await client.setAgentCheck(lb.backend, server, false);
      await client.setServerState(lb.backend, server, 'maint');
    },

    /** Back in rotation; `readyAt` is taken once HAProxy answered (downtime figures err on the long side). */
    async enable({ lb, server }: { lb: LoadBalancer; server: string }): Promise<{ readyAt: number }> {
      const client = haproxy(lb);
      await client.setServerState(lb.backend, server, 'ready');
      const readyAt = Date.now();
      if (lb.agentCheck) await client.setAgentCheck(lb.backend, server, true);
      return { readyAt };
    },

    /** Polls the node until `successThreshold` consecutive probes pass, or fails at the deadline. */
    async waitHealthy(input: WaitHealthyInput): Promise<{ attempts: number }> {
      const { check } = input;
      const threshold = input.successThreshold ?? check.successThreshold;
      const deadline = Date.now() + (input.deadlineMs ?? check.deadline);
      const ctx = Context.current();
      const spec = {
        url: `http://${input.address}${check.path}`,
        expectStatus: check.expectStatus,
        expectRelease: check.reportsRelease ? input.release : undefined,
        timeoutMs: check.requestTimeout,
      };
      let passes = 0;
      let last: ProbeResult | undefined;
      for (let attempt = 1; ; attempt++) {
        last = await probe(spec, ctx.cancellationSignal);
        passes = last.healthy ? passes + 1 : 0;
        beat(ctx, { attempt, passes, reason: last.reason });
        if (passes >= threshold) return { attempts: attempt };
        if (Date.now() + check.interval > deadline) {
          throw ApplicationFailure.nonRetryable(
            `${spec.url} not healthy after ${attempt} attempts: ${last.reason ?? 'not enough consecutive passes'}`,
            failureTypes.unhealthy,
          );
        }
        await sleep(check.interval, undefined, { signal: ctx.cancellationSignal });
      }
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;

