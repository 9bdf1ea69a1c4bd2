// Activity proxies, one per timeout profile.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { AgentActivities } from '../../activities/agent';
import type { ControlActivities } from '../../activities/orchestrator/control';
import type { DefinitionActivities } from '../../activities/orchestrator/definitions';
import type { PoolActivities } from '../../activities/orchestrator/pools';
import type { QueueActivities } from '../../activities/orchestrator/queue';
import type { PromotionActivities } from '../../activities/orchestrator/promotion';
import type { SignatureActivities } from '../../activities/orchestrator/signatures';
import type { VerificationActivities } from '../../activities/orchestrator/verification';
import type { BlueGreen, CiConfig, HealthCheck, LoadBalancer } from '../../lib/config/environment-schema';
import { agentTaskQueue } from '../api';

/** Reading the orchestrator's own definitions: a local file; an invalid or unknown one fails at once. */
export const definitions = proxyActivities<DefinitionActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumAttempts: 5 },
});

/** A promotion's upstream look-up: a visibility list and some results; a refusal is permanent. */
export const promotions = proxyActivities<PromotionActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', maximumAttempts: 5 },
});

/** The queue waiting out a deployment started outside it: as long as that runs, heartbeating. */
export const queueWaits = proxyActivities<QueueActivities>({
  startToCloseTimeout: '30d',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** Signature checks: a few ssh-keygen runs on the orchestrator; a refusal is permanent (signing again is the fix). */
export const signatures = proxyActivities<SignatureActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumAttempts: 3 },
});

/** Quick calls to shared systems: git, the load balancer's stats, a short health check. */
export const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', maximumAttempts: 5 },
});

/** Notifications are best effort: the environment's short time-out and few tries; never fatal. */
export function notifications(timeoutMs: number, attempts: number) {
  return proxyActivities<ControlActivities>({
    startToCloseTimeout: timeoutMs,
    retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumAttempts: attempts },
  });
}

/**
 * Git verification and the change list: fetching a mirror can take a while on a big repository; git
 * heartbeats every 2 s. The activity bounds its own retries (source.unreachableTimeout for a remote
 * that cannot be reached, a few attempts for other git failures); the cap here is only a backstop.
 */
export const verification = proxyActivities<VerificationActivities>({
  startToCloseTimeout: '10m',
  heartbeatTimeout: '30s',
  retry: { initialInterval: '2s', maximumInterval: '30s', maximumAttempts: 50 },
});

// An artifact server that answers 503 now and then should slow a deployment, not fail it: downloads
// retry until a total time-out. A 404 or a wrong digest is permanent and fails at once.
const patientDownloads = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' } as const;

/** The artifact hash streams the whole artifact, heartbeating as it goes. */
export const artifactCheck = proxyActivities<VerificationActivities>({
  scheduleToCloseTimeout: '30m',
  startToCloseTimeout: '15m',
  heartbeatTimeout: '30s',
  retry: patientDownloads,
});

/** Staging a release on a node: a download (heartbeating its bytes every 2 s; a retry resumes them), then an unpack. */
export function agentDownload(environment: string, node: string) {
  return proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(environment, node),
    scheduleToStartTimeout: '5m',
    scheduleToCloseTimeout: '30m',
    startToCloseTimeout: '15m',
    heartbeatTimeout: '10s',
    retry: patientDownloads,
  });
}

/** CI checks may be pending for up to the environment's deadline. */
export function ciChecks(ci: CiConfig) {
  const deadline = ci.provider === 'github' ? ci.deadline : 0;
  const poll = ci.provider === 'github' ? ci.pollInterval : 0;
  return proxyActivities<VerificationActivities>({
    startToCloseTimeout: deadline + 120_000,
    // One heartbeat per poll; a request may take up to 30 s.
    heartbeatTimeout: Math.max(60_000, 2 * poll + 30_000),
    retry: { initialInterval: '2s', maximumAttempts: 5 },
  });
}

/**
 * Work on one node's agent. A dead agent surfaces as a schedule-to-start time-out, not an endless wait:
 * a minute (an agent restarting after a crash polls again within seconds; one gone for good fails the
 * node, and the deployment rolls the others back, instead of holding the fleet for minutes).
 */
export function agentOf(environment: string, node: string, startToCloseTimeout: string | number) {
  return proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(environment, node),
    scheduleToStartTimeout: '1m',
    startToCloseTimeout,
    heartbeatTimeout: '10s',
    retry: { initialInterval: '1s', maximumAttempts: 5 },
  });
}

/**
 * Preflight asks every agent a quick question; one that does not pick it up within a minute is down
 * (a minute, not seconds: with a thousand agents a busy server takes seconds to hand every task out).
 */
export function agentProbe(environment: string, node: string) {
  return proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(environment, node),
    scheduleToStartTimeout: '60s',
    startToCloseTimeout: '10s',
    retry: { maximumAttempts: 3 },
  });
}

export const AGENT_GLANCE_SECONDS = 10;

/** A rollback's question to an agent that may be gone: one try, answered within seconds or not at all. */
export function agentGlance(environment: string, node: string) {
  return proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(environment, node),
    scheduleToCloseTimeout: AGENT_GLANCE_SECONDS * 1000,
    startToCloseTimeout: '5s',
    retry: { maximumAttempts: 1 },
  });
}

/** Drain waits: short heartbeat time-out, so a killed worker's drain is retried within seconds. */
export function lbWaits(lb: LoadBalancer) {
  return proxyActivities<ControlActivities>({
    startToCloseTimeout: lb.drainTimeout + 30_000,
    heartbeatTimeout: '5s',
    retry: { initialInterval: '500ms', maximumAttempts: 5 },
  });
}

/** Health polling until the deadline; it heartbeats once per probe. */
export function healthPolls(check: HealthCheck) {
  return proxyActivities<ControlActivities>({
    startToCloseTimeout: check.deadline + 30_000,
    heartbeatTimeout: 2 * check.interval + check.requestTimeout + 2_000,
    retry: { initialInterval: '1s', maximumAttempts: 3 },
  });
}

/**
 * A node's own load-balancer and health steps, as local activities of its child workflow: they run in
 * the orchestrator worker that runs the workflow, so each costs no task round trip through the
 * server, and the node's whole cycle takes two workflow tasks instead of six. All three are
 * idempotent; after a worker crash they run again from the start.
 */
export function nodeSteps(lb: LoadBalancer, check: HealthCheck) {
  return {
    drains: proxyLocalActivities<ControlActivities>({
      startToCloseTimeout: lb.drainTimeout + 30_000,
      retry: { initialInterval: '500ms', maximumAttempts: 5 },
    }),
    health: proxyLocalActivities<ControlActivities>({
      startToCloseTimeout: check.deadline + 30_000,
      retry: { initialInterval: '1s', maximumAttempts: 3 },
    }),
    lbOps: proxyLocalActivities<ControlActivities>({
      startToCloseTimeout: '15s',
      retry: { initialInterval: '500ms', maximumAttempts: 10 },
    }),
  };
}

/** Blue-green's quick HAProxy calls: read the map, switch it, count a backend's usable servers. */
export const pools = proxyActivities<PoolActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', maximumInterval: '5s', maximumAttempts: 10 },
});

/** The post-switch watch polls for its whole duration, heartbeating each poll (a retry keeps its baseline). */
export function poolWatch(strategy: BlueGreen) {
  return proxyActivities<PoolActivities>({
    startToCloseTimeout: strategy.watch.duration + 60_000,
    heartbeatTimeout: Math.max(10_000, 3 * strategy.watch.interval),
    retry: { initialInterval: '1s', maximumAttempts: 5 },
  });
}

/** Smoke tests: every check's own time-out one after another, then the command's; a failed check is a result, not an error. */
export function smokeTests(strategy: BlueGreen) {
  const checks = strategy.smoke.checks.reduce((sum, c) => sum + c.timeout, 0);
  return proxyActivities<PoolActivities>({
    startToCloseTimeout: checks + (strategy.smoke.command ? strategy.smoke.timeout : 0) + 30_000,
    retry: { initialInterval: '1s', maximumAttempts: 3 },
  });
}

/** Ending an earlier warm period waits for its workflow to close (it may be stopping a pool: a drain and an app stop per node). */
export const warmPeriods = proxyActivities<PoolActivities>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', maximumAttempts: 5 },
});
