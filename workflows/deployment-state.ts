// The deployment's live state: what the `status` query returns and what the result reports.
import { log, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { DeployEvent, DeployInput, DeployResult, DeployStatus, NodeState, Phase } from './api';
import { searchAttributes } from './api';

export class DeploymentState {
  phase: Phase = 'verify';
  commit: string | null = null;
  readonly nodes: NodeState[];
  private readonly events: DeployEvent[] = [];

  constructor(private readonly input: DeployInput) {
    this.nodes = input.environment.nodes.map((n) => ({ id: n.id, release: null, previousRelease: null, lb: 'unknown', state: 'pending' }));
  }

  node(id: string): NodeState {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new TypeError(`no node ${id}`);
    return node;
  }

  enter(phase: Phase): void {
    this.phase = phase;
    upsertSearchAttributes([{ key: searchAttributes.phase, value: phase }]);
    this.record(`phase ${phase}`);
  }

  /** Appends to the event log (Date is deterministic inside workflows). */
  record(what: string): void {
    this.events.push({ time: new Date().toISOString(), what });
    log.info(what, { phase: this.phase });
  }

  status(): DeployStatus {
    const info = workflowInfo();
    return {
      workflowId: info.workflowId,
      runId: info.runId,
      environment: this.input.environment.name,
      release: this.input.release,
      commit: this.commit,
      requestedBy: this.input.requestedBy,
      phase: this.phase,
      nodes: this.nodes.map((n) => ({ ...n })),
      events: [...this.events],
    };
  }

  result(error?: string): DeployResult {
    const { events: _events, ...rest } = this.status();
    return { ...rest, status: error === undefined ? 'live' : 'failed', ...(error === undefined ? {} : { error }) };
  }
}
