// Activity proxies, one per timeout profile.
import { proxyActivities } from '@temporalio/workflow';
import type { AgentActivities } from '../activities/agent';
import type { ControlActivities } from '../activities/control';
import { agentTaskQueue } from './api';

/** Quick calls to shared systems: git, the load balancer's stats, a short health check. */
export const control = proxyActivities<ControlActivities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', maximumAttempts: 5 },
});

/** Notifications are best effort: short time-outs, few tries; callers never let them fail a deployment. */
export const notifications = proxyActivities<ControlActivities>({
  startToCloseTimeout: '5s',
  retry: { initialInterval: '1s', maximumAttempts: 3 },
});

/** Work on one node's agent. A dead agent surfaces as a schedule-to-start time-out, not an endless wait. */
export function agentOf(environment: string, node: string, startToCloseTimeout: string | number, maximumAttempts = 5) {
  return proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(environment, node),
    scheduleToStartTimeout: '5m',
    startToCloseTimeout,
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', maximumAttempts },
  });
}

/** Preflight asks every agent a quick question; one that does not pick it up in 15 s is down. */
export function agentProbe(environment: string, node: string) {
  return proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(environment, node),
    scheduleToStartTimeout: '15s',
    startToCloseTimeout: '10s',
    retry: { maximumAttempts: 3 },
  });
}
