// The environment's queue and calendar: how requests that arrive while a deployment runs are kept
// (fifo, latest-wins, batch), whether a failed release locks the environment, and when deployments may
// start (deploy windows as cron expressions in a time zone). Read by the queue workflow `queue/<env>`.
import { Cron } from 'croner';
import { z } from 'zod';
import { duration } from './primitives';
import { strictObject } from './strict';

export const queuePolicies = ['fifo', 'latest-wins', 'batch'] as const;
export type QueuePolicy = (typeof queuePolicies)[number];

export const queueSchema = strictObject({
  /**
   * fifo: every request deploys, in order. latest-wins: a new request replaces the pending one (and
   * inherits its requesters). batch: the next deployment takes the newest pending release and covers
   * every older one still pending, at most maxChanges of them.
   */
  policy: z.enum(queuePolicies).default('fifo'),
  /** batch: the most releases one deployment covers; the rest wait for the next. */
  maxChanges: z.number().int().positive().default(10),
  /** More pending requests than this are refused (a CI loop cannot grow the queue without bound). */
  maxPending: z.number().int().positive().max(1000).default(100),
  /** After a deployment fails and rolls itself back, lock the environment with the cause as reason. */
  lockOnRollback: z.boolean().default(true),
});

/** One window: it opens at each time the cron expression names (in its time zone) and stays open for `duration`. */
export const windowSchema = strictObject({
  cron: z.string().min(1),
  duration,
  /** An IANA time zone, e.g. Europe/Berlin. */
  timezone: z.string().min(1).default('UTC'),
}).superRefine((w, ctx) => {
  try {
    new Cron(w.cron, { paused: true, timezone: w.timezone }).nextRun();
  } catch (err) {
    const message = (err as Error).message;
    const tz = /timezone/i.test(message);
    ctx.addIssue({
      code: 'custom',
      path: [tz ? 'timezone' : 'cron'],
      message: tz ? `unknown time zone "${w.timezone}": use an IANA name such as "Europe/Berlin" or "UTC"` : `"${w.cron}" is not a cron expression (minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5"): ${message}`,
    });
  }
  if (w.duration <= 0) ctx.addIssue({ code: 'custom', path: ['duration'], message: 'a window must stay open for some time, e.g. "8h"' });
});

export type QueueSettings = z.output<typeof queueSchema>;
export type DeployWindow = z.output<typeof windowSchema>;
