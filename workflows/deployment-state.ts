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
  StateSnapshot,
  UndoFailure,
} from './api';
import { searchAttributes, terminalPhases } from './api';

const MAX_EVENTS = 1_000;
const MAX_DETAIL_ROWS = 30;

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
    const saved = input.resume?.state;
    if (saved) {
      Object.assign(this, { phase: saved.phase, commit: saved.commit, changes: saved.changes, pausedBy: saved.pausedBy, cause: saved.cause });
      this.nodes.splice(0, this.nodes.length, ...saved.nodes);
      this.approvals.push(...saved.approvals);
      this.undoFailures.push(...saved.undoFailures);
      Object.assign(this.migration, saved.migration);
      this.events.push(...saved.events);
    }
  }

  /** Everything the next run needs to carry on (continue-as-new). */
  snapshot(): StateSnapshot {
    const { phase, commit, changes, pausedBy, cause } = this;
    return {
      phase, commit, changes, pausedBy, cause,
      nodes: this.nodes.map((n) => ({ ...n })),
      approvals: [...this.approvals],
      undoFailures: [...this.undoFailures],
      migration: { ...this.migration },
      events: [...this.events],
    };
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
    // Bounded, so the status query and a continue-as-new stay small at any fleet size.
    if (this.events.length > MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS, { time: this.events[0]!.time, what: '(earlier events dropped)' });
    log.info(what, { phase: this.phase, who });
    setCurrentDetails(this.details(what));
  }

  /** What the Temporal UI shows as the run's current details: the phase, the last step, every node. */
  private details(last: string): string {
    // A big fleet: counts per state, then the nodes that are not simply pending or live.
    const counts = new Map<string, number>();
    for (const n of this.nodes) counts.set(n.state, (counts.get(n.state) ?? 0) + 1);
    const shown = this.nodes.length <= MAX_DETAIL_ROWS ? this.nodes : this.nodes.filter((n) => n.state !== 'pending' && n.state !== 'live').slice(0, MAX_DETAIL_ROWS);
    const rows = shown.map((n) => `| ${n.id} | ${n.state} | ${n.release ?? '-'} | ${n.lb} |`);
    const tally = this.nodes.length <= MAX_DETAIL_ROWS ? [] : [[...counts].map(([state, n]) => `${n} ${state}`).join(', '), ''];
    return [`**${this.phase}** — ${last}`, '', ...tally, '| node | state | release | lb |', '| --- | --- | --- | --- |', ...rows].join('\n');
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
