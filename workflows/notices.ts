// Team notifications, best effort: sent in the background, awaited only at the end, and a failed
// delivery is recorded in the event log, never thrown.
import type { Environment } from '../lib/environment-schema';
import type { DeploymentState } from './deployment-state';
import { describeFailure } from './failures';
import { notifications } from './proxies';

export class Notices {
  private readonly pending: Promise<void>[] = [];

  constructor(
    private readonly env: Environment,
    private readonly state: DeploymentState,
  ) {}

  send(event: string, extra: Record<string, unknown> = {}): void {
    const status = this.state.status();
    const payload = {
      event,
      environment: status.environment,
      release: status.release,
      commit: status.commit,
      requestedBy: status.requestedBy,
      workflowId: status.workflowId,
      phase: status.phase,
      nodes: status.nodes.map(({ id, release, state }) => ({ id, release, state })),
      ...extra,
    };
    for (const webhook of this.env.notifications.webhooks) {
      this.pending.push(
        notifications.notify({ webhook, payload }).catch((err: unknown) => {
          this.state.record(`notification "${event}" not delivered: ${describeFailure(err)}`);
        }),
      );
    }
  }

  async settle(): Promise<void> {
    await Promise.all(this.pending);
  }
}
