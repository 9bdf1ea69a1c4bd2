// `gantry lock|unlock|freeze|unfreeze <env>`: the queue's lock (author, reason, optional expiry) and
// freeze (until a time). Both hold every deployment, automated or not, and never a rollback.
import os from 'node:os';
import { connectClient } from '../../client/connection';
import { controlQueue, QueueRefused, type QueueControl } from '../../client/queue';
import { parseDuration } from '../../lib/config/duration';
import type { QueueStatus } from '../../workflows/api';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';
import { describeQueue } from '../format-queue';

export interface LockOptions {
  as?: string;
  reason?: string;
  /** lock: how long ("2h"); freeze: until when, as a duration from now. */
  for?: string;
  /** An ISO time. */
  until?: string;
  taskQueue: string;
  json: boolean;
}

export type LockAction = QueueControl['action'];

/** --for 2h or --until 2026-12-24T18:00:00Z as an ISO time; neither: undefined. */
function endOf(options: LockOptions): string | undefined {
  if (options.for !== undefined && options.until !== undefined) throw new CliExit('--for and --until: give one of them', ExitCode.rejected);
  if (options.for !== undefined) {
    const ms = parseDuration(options.for);
    if (ms === undefined || ms <= 0) throw new CliExit(`--for "${options.for}": expected a duration such as "30m" or "2h"`, ExitCode.rejected);
    return new Date(Date.now() + ms).toISOString();
  }
  if (options.until !== undefined) {
    const at = Date.parse(options.until);
    if (Number.isNaN(at)) throw new CliExit(`--until "${options.until}": expected an ISO time such as 2026-12-24T18:00:00Z`, ExitCode.rejected);
    return new Date(at).toISOString();
  }
  return undefined;
}

function controlOf(action: LockAction, options: LockOptions): QueueControl {
  const by = options.as ?? os.userInfo().username;
  const reason = () => {
    if (!options.reason?.trim()) throw new CliExit(`--reason is required: say why (gantry why shows it to everyone waiting)`, ExitCode.rejected);
    return options.reason;
  };
  switch (action) {
    case 'lock': {
      const expiresAt = endOf(options);
      return { action, payload: { by, reason: reason(), ...(expiresAt ? { expiresAt } : {}) } };
    }
    case 'freeze': {
      const until = endOf(options);
      if (!until) throw new CliExit('--until (or --for) is required: a freeze ends at a set time; use gantry lock for an open-ended hold', ExitCode.rejected);
      return { action, payload: { by, reason: reason(), until } };
    }
    default:
      return { action, payload: { by } };
  }
}

export async function lockCommand(action: LockAction, environment: string, options: LockOptions): Promise<number> {
  requireEnvironmentName(environment);
  const control = controlOf(action, options);
  const { client, close } = await connectClient();
  try {
    const status: QueueStatus = await controlQueue(client, environment, options.taskQueue, control).catch((err: unknown) => {
      if (err instanceof QueueRefused) throw new CliExit(err.message, ExitCode.rejected);
      throw err;
    });
    if (options.json) console.log(JSON.stringify(status));
    else console.log(describeQueue(status).join('\n'));
    return ExitCode.ok;
  } finally {
    await close();
  }
}
