// The deployment's live state: what the `status` query returns and what the result reports.
import { log, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type {
  Approval,
  ChangeSummary,
  DeployEvent,
  DeployInput,
  DeployOutcomeStatus,
  DeployResult,
  DeployStatus,
  FailureCause,
  MigrationRecord,
  NodeState,
  Phase,
  UndoFailure,
} from './api';
import { searchAttributes, terminalPhases } from './api';

export class DeploymentState {
  phase: Phase = 'verify';
  commit: string | null = null;
  changes: ChangeSummary | null = null;
  readonly nodes: NodeState[];
  readonly approvals: Approval[] = [];
  pausedBy: string | null = null;
  abortRequest: { by: string; reason: string } | null = null;
  /** The first failure that made the deployment roll back. */
  cause: FailureCause | null = null;
  readonly undoFailures: UndoFailure[] = [];
  readonly migration: MigrationRecord = {};
  private readonly events: DeployEvent[] = [];

  constructor(readonly input: DeployInput) {
    this.nodes = input.environment.nodes.map((n) => ({ id: n.id, release: null, previousRelease: null, lb: 'unknown', state: 'pending' }));
  }

  get finished(): boolean {
    return terminalPhases.includes(this.phase);
  }

  get approvalsNeeded(): number {
    const policy = this.input.environment.approval;
    return this.phase === 'awaiting-approval' && policy ? Math.max(0, policy.minApprovals - this.approvals.length) : 0;
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
  record(what: string, who?: string): void {
    this.events.push({ time: new Date().toISOString(), ...(who === undefined ? {} : { who }), what });
    log.info(what, { phase: this.phase, who });
    setCurrentDetails(this.details(what));
  }

  /** What the Temporal UI shows as the run's current details: the phase, the last step, every node. */
  private details(last: string): string {
    const rows = this.nodes.map((n) => `| ${n.id} | ${n.state} | ${n.release ?? '-'} | ${n.lb} |`);
    return [`**${this.phase}** — ${last}`, '', '| node | state | release | lb |', '| --- | --- | --- | --- |', ...rows].join('\n');
  }

  status(): DeployStatus {
    const info = workflowInfo();
    return {
      workflowId: info.workflowId,
      runId: info.runId,
      environment: this.input.environment.name,
      release: this.input.release,
      commit: this.commit,
      changes: this.changes,
      requestedBy: this.input.requestedBy,
      phase: this.phase,
      paused: this.pausedBy !== null,
      approvals: [...this.approvals],
      approvalsNeeded: this.approvalsNeeded,
      nodes: this.nodes.map((n) => ({ ...n })),
      migration: this.input.environment.migrations ? { ...this.migration } : null,
      events: [...this.events],
    };
  }

  result(status: DeployOutcomeStatus, error?: string): DeployResult {
    const { events: _events, ...rest } = this.status();
    return {
      ...rest,
      status,
      ...(error === undefined ? {} : { error }),
      ...(this.cause ? { cause: this.cause } : {}),
      undoFailures: [...this.undoFailures],
    };
  }
}
