// Team notifications, best effort: sent in the background, awaited only at the end, and a failed
// delivery is recorded in the event log, never thrown. Each channel gets only the events it chose.
import { condition } from '@temporalio/workflow';
import type { Environment, NotificationEvent } from '../../lib/config/environment-schema';
import type { Notice } from '../../lib/notify/format';
import type { DeploymentState } from './state';
import { describeFailure } from '../common/failures';
import { notifications } from '../common/proxies';

export class Notices {
  private outstanding = 0;
  private readonly activities: ReturnType<typeof notifications>;

  constructor(
    private readonly env: Environment,
    private readonly state: DeploymentState,
  ) {
    this.activities = notifications(env.notifications.timeout, env.notifications.attempts);
  }

  send(event: NotificationEvent, extra: Record<string, unknown> = {}): void {
    const channels = this.env.notifications.channels.filter((c) => c.events.includes(event));
    if (channels.length === 0) return;
    const status = this.state.status();
    const notice: Notice = {
      event,
      environment: status.environment,
      release: status.release,
      commit: status.commit,
      requestedBy: status.requestedBy,
      workflowId: status.workflowId,
      phase: status.phase,
      nodes: status.nodes.map(({ id, release, state }) => ({ id, release, state })),
      ...(status.changes ? { changes: status.changes } : {}),
      ...extra,
    };
    for (const channel of channels) {
      this.outstanding++;
      void this.activities
        .notify({ channel, notice, timeoutMs: this.env.notifications.timeout })
        .catch((err: unknown) => this.state.record(`notification "${event}" to ${channel.type} not delivered: ${describeFailure(err)}`))
        .finally(() => this.outstanding--);
    }
  }

  /**
   * Before the deployment ends: waits for deliveries still under way, but at most one attempt's
   * time-out, so a hung receiver costs a deploy no more than that.
   */
  async settle(): Promise<void> {
    const done = await condition(() => this.outstanding === 0, this.env.notifications.timeout);
    if (!done) this.state.record(`stopped waiting for ${this.outstanding} notification(s) after ${this.env.notifications.timeout} ms`);
  }
}
