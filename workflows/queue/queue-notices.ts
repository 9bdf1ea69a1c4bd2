// What the queue tells the team: a request superseded (latest-wins) and the environment locked after
// a rollback. Best effort like the deployment's own notices: a failed delivery is recorded, never thrown.
import { condition } from '@temporalio/workflow';
import type { Environment, NotificationEvent } from '../../lib/config/environment-schema';
import type { Notice } from '../../lib/notify/format';
import { describeFailure } from '../common/failures';
import { notifications } from '../common/proxies';
import type { QueuedRequest, SupersededRequest } from '../queue-api';
import type { QueueState } from './queue-state';

export class QueueNotices {
  private config: Environment['notifications'] | undefined;
  private outstanding = 0;

  constructor(private readonly state: QueueState) {}

  /** The channels as the definition names them now. */
  use(config: Environment['notifications']): void {
    this.config = config;
  }

  superseded(old: SupersededRequest): void {
    this.send('superseded', { release: old.release, requestedBy: old.requesters.join(', '), reason: `superseded by ${old.by.release} (request ${old.by.id}), which carries its requesters`, request: old.id, supersededBy: old.by });
  }

  locked(entry: QueuedRequest, reason: string): void {
    this.send('locked', { release: entry.release, requestedBy: entry.requesters.join(', '), reason, request: entry.id });
  }

  async settle(): Promise<void> {
    if (this.config) await condition(() => this.outstanding === 0, this.config.timeout);
  }

  private send(event: NotificationEvent, fields: { release: string; requestedBy: string; reason: string } & Record<string, unknown>): void {
    const config = this.config;
    const channels = config?.channels.filter((c) => c.events.includes(event)) ?? [];
    if (!config || channels.length === 0) return;
    const notice: Notice = { event, environment: this.state.environment, commit: null, workflowId: `queue/${this.state.environment}`, phase: 'queue', nodes: [], ...fields };
    const activities = notifications(config.timeout, config.attempts);
    for (const channel of channels) {
      this.outstanding++;
      void activities
        .notify({ channel, notice, timeoutMs: config.timeout })
        .catch((err: unknown) => this.state.record(`notification "${event}" to ${channel.type} not delivered: ${describeFailure(err)}`))
        .finally(() => this.outstanding--);
    }
  }
}
