// The deployment's live state: what the `status` query returns, what the result reports, and the undo
// list compensation works from. It changes only through the named methods below, each of which
// records what happened in the event log.
import { log, setCurrentDetails, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Environment } from '../../lib/config/environment-schema';
import type { DeploymentShape } from '../../lib/rollout/batches';
import { approvalProgress, approversOf, authorsMissing, changeAuthors, principalOf, type ApprovalProgress, type ChangeAuthors } from '../../lib/identity/policy';
import type {
  Approval,
  ArtifactRef,
  ChangeSummary,
  DeployEvent,
  DeployOutcomeStatus,
  DeployResult,
  DeployStatus,
  FailureCause,
  MigrationRecord,
  NodeState,
  Phase,
  PoolName,
  PoolStatus,
  PromotionSource,
  SmokeResult,
  CiUnavailable,
  UncheckedAcceptance,
  UndoFailure,
} from '../api';
import { searchAttributes, terminalPhases } from '../api';

const MAX_EVENTS = 1_000;

/** What a verified signature adds to an operator action. */
export interface Proof {
  fingerprint: string;
  statementSha256: string;
  nonce: string;
}

const signedBy = (proof: Proof | undefined) => (proof ? ` (signed, key ${proof.fingerprint})` : '');
const MAX_DETAIL_ROWS = 30;

/** Everything the next run needs to carry on after continue-as-new. */
export interface StateSnapshot {
  phase: Phase;
  commit: string | null;
  changes: ChangeSummary | null;
  nodes: NodeState[];
  approvals: Approval[];
  pausedBy: string | null;
  cause: FailureCause | null;
  undoFailures: UndoFailure[];
  migration: MigrationRecord;
  events: DeployEvent[];
  /** Ids of the nodes changed so far, in the order they changed: what compensation undoes. */
  changed: string[];
  /** Nonces of the signed statements accepted so far: none counts twice. */
  nonces?: string[];
  /** sha256 of the signed statements accepted so far (the memo's signedStatements). */
  accepted?: string[];
  unreachable?: string[];
  served?: string[];
  /** CI checks an operator accepted going on without (the provider could not be asked). */
  unchecked?: UncheckedAcceptance;
}

/** Where a continued run starts. */
export interface ResumePoint {
  nextBatch: number;
  state: StateSnapshot;
}

/**
 * What a run works from: the request, checked, with the orchestrator's definition of the environment
 * (read once, pinned by its sha256), the artifact it names, the shape fixed, and where a continued run
 * resumes. Continue-as-new passes it on whole, so a definition changed on disk never reaches a running deployment.
 */
export interface WorkflowInput {
  environment: Environment;
  /** null: a deployment started before definitions lived with the orchestrator (replayed history). */
  definitionSha256?: string | null;
  /** The plan's hash and summary: what signed operator statements must name (absent in older histories). */
  plan?: { hash: string; summary: string };
  release: string;
  commit?: string;
  /** Absent for a rollback to a release every node still keeps. */
  artifact?: ArtifactRef;
  requestedBy: string;
  kind?: 'deploy' | 'rollback';
  /** gantry repair: only nodes off the invariant change, and no migration runs. */
  repair?: boolean;
  shape: DeploymentShape;
  resume?: ResumePoint;
  /** A rollback that needs only the fleet (no tag, CI or change list; approval only with forRollback); decided once. */
  rollbackNeedsOnlyFleet?: boolean;
  /** gantry promote: where the artifact went live before (checked against promotion.bake). */
  promotion?: PromotionSource;
}

export class DeploymentState {
  #phase: Phase = 'verify';
  #commit: string | null = null;
  #changes: ChangeSummary | null = null;
  readonly #nodes: NodeState[];
  readonly #approvals: Approval[] = [];
  #pausedBy: string | null = null;
  #abortRequest: { by: string; reason: string } | null = null;
  /** The first failure that made the deployment roll back. */
  #cause: FailureCause | null = null;
  readonly #undoFailures: UndoFailure[] = [];
  readonly #migration: MigrationRecord = {};
  readonly #events: DeployEvent[] = [];
  /** Node ids in the order they started changing; compensation undoes them newest first. */
  readonly #changed: string[] = [];
  readonly #nonces = new Set<string>();
  /** Nodes that went live on the new release in this deployment: it has served traffic, and written data. */
  readonly #served: string[] = [];
  /** Nodes a rollback could not reach (left out of it). */
  readonly #unreachable: string[] = [];
  /** sha256 of every signed statement accepted, in order. */
  readonly #accepted: string[] = [];
  /** Blue-green: the pools, the smoke tests, the switch. */
  #pools: PoolStatus | null = null;
  /** The CI provider cannot be asked right now (ci.whenUnavailable: operator). */
  #ciUnavailable: CiUnavailable | null = null;
  #unchecked: UncheckedAcceptance | null = null;

  constructor(readonly input: WorkflowInput) {
    this.#nodes = input.environment.nodes.map((n) => ({ id: n.id, release: null, previousRelease: null, lb: 'unknown', state: 'pending' }));
    const saved = input.resume?.state;
    if (saved) {
      this.#phase = saved.phase;
      this.#commit = saved.commit;
      this.#changes = saved.changes;
      this.#pausedBy = saved.pausedBy;
      this.#cause = saved.cause;
      this.#nodes.splice(0, this.#nodes.length, ...saved.nodes);
      this.#approvals.push(...saved.approvals);
      this.#undoFailures.push(...saved.undoFailures);
      Object.assign(this.#migration, saved.migration);
      this.#events.push(...saved.events);
      this.#changed.push(...saved.changed);
      for (const nonce of saved.nonces ?? []) this.#nonces.add(nonce);
      this.#accepted.push(...(saved.accepted ?? []));
      this.#unreachable.push(...(saved.unreachable ?? []));
      this.#unchecked = saved.unchecked ?? null;
      // A snapshot from before `served` existed: the nodes live on the new release when it was taken.
      this.#served.push(...(saved.served ?? saved.nodes.filter((n) => n.state === 'live' && n.release === input.release).map((n) => n.id)));
    }
  }

  snapshot(): StateSnapshot {
    return {
      phase: this.#phase,
      commit: this.#commit,
      changes: this.#changes,
      pausedBy: this.#pausedBy,
      cause: this.#cause,
      nodes: this.#nodes.map((n) => ({ ...n })),
      approvals: [...this.#approvals],
      undoFailures: [...this.#undoFailures],
      migration: { ...this.#migration },
      events: [...this.#events],
      changed: [...this.#changed],
      nonces: [...this.#nonces],
      accepted: [...this.#accepted],
      unreachable: [...this.#unreachable],
      served: [...this.#served],
      ...(this.#unchecked ? { unchecked: this.#unchecked } : {}),
    };
  }

  // ---- reading

  get phase(): Phase {
    return this.#phase;
  }
  get finished(): boolean {
    return terminalPhases.includes(this.#phase);
  }
  get commit(): string | null {
    return this.#commit;
  }
  get pausedBy(): string | null {
    return this.#pausedBy;
  }
  get abortRequest(): { by: string; reason: string } | null {
    return this.#abortRequest;
  }
  get approvals(): readonly Approval[] {
    return this.#approvals;
  }
  get cause(): FailureCause | null {
    return this.#cause;
  }
  get undoFailures(): readonly UndoFailure[] {
    return this.#undoFailures;
  }
  get migration(): Readonly<MigrationRecord> {
    return this.#migration;
  }
  get nodes(): readonly Readonly<NodeState>[] {
    return this.#nodes;
  }
  node(id: string): Readonly<NodeState> {
    return this.#node(id);
  }
  /** Nodes changed so far, newest first: the order compensation undoes them in. */
  undoList(): string[] {
    return [...this.#changed].reverse();
  }
  /** The approvals that count: only verified ones when the policy requires signatures. */
  countedApprovals(): Approval[] {
    const policy = this.input.environment.approval;
    return this.#approvals.filter((a) => !policy?.requireSigned || a.verified === true);
  }
  /** How far the counted approvals are from the policy. */
  approvalProgress(): ApprovalProgress {
    const env = this.input.environment;
    const policy = env.approval;
    if (!policy) return { met: true, needed: 0, missing: [] };
    const counted = this.countedApprovals().map((a) => a.by);
    // An author may approve from outside the approvers list, or as the requester: that counts toward the authors only.
    const mayCount = this.#approverEligible();
    const base = approvalProgress(env, policy, counted.filter(mayCount));
    const authors = authorsMissing(policy, this.changeAuthors().authors, counted);
    const overlap = Math.min(base.needed, authors.needed, authors.waitingFor.filter(mayCount).length);
    return { met: base.met && authors.needed === 0, needed: base.needed + authors.needed - overlap, missing: [...base.missing, ...authors.missing] };
  }
  /** The authors of the changes going out, where the definition wants their approval (derived from the change list). */
  changeAuthors(): ChangeAuthors {
    const policy = this.input.environment.approval;
    const wanted = ((policy?.requireAuthors as string | undefined) ?? 'none') !== 'none';
    return wanted && this.#changes ? changeAuthors(policy!, this.#changes.commits) : { authors: [], unmapped: [] };
  }
  isAuthor(by: string): boolean {
    return this.changeAuthors().authors.some((a) => a.principal === by);
  }
  /** Whether an approval by `by` counts toward minApprovals and the group rules. */
  #approverEligible(): (by: string) => boolean {
    const env = this.input.environment;
    const approvers = approversOf(env);
    const requester = principalOf(env, this.input.requestedBy);
    return (by) => (!approvers || approvers.includes(by)) && (env.approval?.allowSelfApproval === true || by !== requester);
  }
  get approvalsNeeded(): number {
    return this.#phase === 'awaiting-approval' ? this.approvalProgress().needed : 0;
  }
  #authorsView(): { authors?: DeployStatus['authors'] } {
    const { authors } = this.changeAuthors();
    if (authors.length === 0) return {};
    const approved = new Set(this.countedApprovals().map((a) => a.by));
    return { authors: authors.map((a) => ({ ...a, approved: approved.has(a.principal) })) };
  }
  /** A signed statement counted: its nonce is spent, and the memo lists it for `gantry audit`. */
  #signed(proof: Proof): void {
    this.#nonces.add(proof.nonce);
    this.#accepted.push(proof.statementSha256);
    upsertMemo({ signedStatements: [...this.#accepted] });
  }

  /** Whether a signed statement with this nonce was accepted already. */
  nonceUsed(nonce: string): boolean {
    return this.#nonces.has(nonce);
  }

  // ---- the deployment's progress

  enter(phase: Phase): void {
    this.#phase = phase;
    upsertSearchAttributes([{ key: searchAttributes.phase, value: phase }]);
    this.record(`phase ${phase}`);
  }

  /** Appends to the event log (Date is deterministic inside workflows). */
  record(what: string, who?: string): void {
    this.#events.push({ time: new Date().toISOString(), ...(who === undefined ? {} : { who }), what });
    // Bounded, so the status query and a continue-as-new stay small at any fleet size.
    if (this.#events.length > MAX_EVENTS) this.#events.splice(0, this.#events.length - MAX_EVENTS, { time: this.#events[0]!.time, what: '(earlier events dropped)' });
    log.info(what, { phase: this.#phase, who });
    setCurrentDetails(this.#details(what));
  }

  tagVerified(commit: string, what: string): void {
    this.#commit = commit;
    this.record(what);
  }

  /** ci.whenUnavailable operator: the provider cannot be asked; an operator may now accept going on. */
  ciUnreadable(what: CiUnavailable): void {
    const first = this.#ciUnavailable === null;
    this.#ciUnavailable = what;
    if (first) this.record(`CI checks on commit ${what.commit} cannot be read (since ${what.since}: ${what.error}); waiting for the provider, or for an operator to accept going on without them (gantry accept-unchecked)`);
  }
  ciReadable(): void {
    if (this.#ciUnavailable) this.record('the CI provider answers again');
    this.#ciUnavailable = null;
    // The checks were read after all: an acceptance given meanwhile skipped nothing.
    if (this.#unchecked) {
      this.record(`the CI checks passed after all: ${this.#unchecked.by}'s acceptance was not needed`);
      this.#unchecked = null;
    }
  }
  get ciUnavailable(): CiUnavailable | null {
    return this.#ciUnavailable;
  }
  acceptUnchecked(by: string, reason: string): void {
    const u = this.#ciUnavailable!;
    this.#unchecked = { by, reason, at: new Date().toISOString(), commit: u.commit, checks: u.checks, error: u.error, since: u.since };
    this.#ciUnavailable = null;
    this.record(`${by} accepted going on without the CI checks on commit ${u.commit} (${u.checks.join(', ') || 'every reported check'}), which could not be read (${u.error}): ${reason}`, by);
  }
  get uncheckedAcceptance(): UncheckedAcceptance | null {
    return this.#unchecked;
  }

  /** config.templates: what each node rendered and the facts it received. */
  configured(results: { id: string; rendered: string[]; facts: string[] }[]): void {
    for (const { id, rendered, facts } of results) this.#node(id).config = { rendered, facts };
    const first = results[0];
    if (first) this.record(`configuration rendered on ${results.length} node(s): ${first.rendered.join(', ')} (facts: ${first.facts.join(', ')})`);
  }

  get changes(): ChangeSummary | null {
    return this.#changes;
  }

  changesListed(changes: ChangeSummary): void {
    this.#changes = changes;
    this.record(`${changes.total} change(s) since ${changes.from ?? 'the beginning'}`);
  }

  /** Each node's release and load-balancer state before anything changed: what a rollback returns to. */
  preflightPassed(facts: { id: string; release: string | null; lb: string }[]): void {
    // A deployment leaves an operator's MAINT alone; a fresh node (no release yet) starts in MAINT and is no one's,
    // and a rollback brings every node back into rotation (a node a failed run left drained among them).
    const honourMaint = this.input.kind !== 'rollback';
    for (const fact of facts) {
      const held = honourMaint && fact.lb === 'maint' && fact.release !== null;
      Object.assign(this.#node(fact.id), { release: fact.release, previousRelease: fact.release, lb: fact.lb, ...(held ? { heldInMaint: true } : {}) });
    }
    this.record(`preflight passed: ${this.#summarizeReleases()}`);
    const held = this.heldInMaint();
    if (held.length > 0) this.record(`${held.join(', ')}: in MAINT before this deployment (an operator's): they get ${this.input.release} and stay in MAINT`);
  }

  /** What the end of the run read from the node's agent and HAProxy: the result reports it, not what was meant. */
  observed(id: string, seen: { lb: string; release?: string | null; unreachable?: string }): void {
    const node = this.#node(id);
    node.lb = seen.lb;
    if (seen.unreachable !== undefined) {
      this.record(`${id}: could not be read back (${seen.unreachable}); its release is the one the deployment recorded`);
    } else if (seen.release !== undefined && seen.release !== node.release) {
      this.record(`${id}: its agent runs ${seen.release ?? '(nothing)'}, not ${node.release ?? '(nothing)'} as this deployment recorded`);
      node.error = `runs ${seen.release ?? 'nothing'}, not ${node.release ?? 'nothing'}`;
      node.release = seen.release;
    }
  }

  /** Nodes whose server an operator had in MAINT when the deployment began. */
  heldInMaint(): string[] {
    return this.#nodes.filter((n) => n.heldInMaint === true).map((n) => n.id);
  }

  // ---- operators

  approve(by: string, comment: string | undefined, proof?: Proof): void {
    if (proof) this.#signed(proof);
    this.#approvals.push({
      by,
      time: new Date().toISOString(),
      ...(comment ? { comment } : {}),
      verified: proof !== undefined,
      ...(proof ? { fingerprint: proof.fingerprint, statementSha256: proof.statementSha256 } : {}),
    });
    const progress = this.approvalProgress();
    const tally = progress.met ? 'approval complete' : `still needed: ${progress.missing.join(', ')}`;
    this.record(`approved by ${by}${signedBy(proof)}${comment ? `: ${comment}` : ''} (${tally})`, by);
  }

  requestAbort(by: string, reason: string, proof?: Proof, verb = 'abort requested'): void {
    if (proof) this.#signed(proof);
    this.#abortRequest = { by, reason };
    this.record(`${verb} by ${by}${signedBy(proof)}: ${reason}`, by);
  }

  pause(by: string, proof?: Proof): void {
    if (proof) this.#signed(proof);
    this.#pausedBy = by;
    this.record(`paused by ${by}${signedBy(proof)}: no new batch starts until resumed`, by);
  }

  resume(by: string, proof?: Proof): void {
    if (proof) this.#signed(proof);
    this.#pausedBy = null;
    this.record(`resumed by ${by}${signedBy(proof)}`, by);
  }

  // ---- nodes going forward

  /** The nodes are about to change: they join the undo list before any command is sent. */
  nodesStarting(ids: string[]): void {
    for (const id of ids) {
      this.#node(id).state = 'deploying';
      if (!this.#changed.includes(id)) this.#changed.push(id);
    }
  }

  nodeLive(id: string, release: string | null, lb: string, note?: string): void {
    Object.assign(this.#node(id), { release, lb, state: 'live' });
    if (release === this.input.release && !this.#served.includes(id)) this.#served.push(id);
    if (note !== undefined) this.record(`${id}: ${note}`);
  }

  /** Never touched after all (its batch stopped first): nothing to undo. */
  nodeUntouched(id: string): void {
    this.#node(id).state = 'pending';
    const at = this.#changed.indexOf(id);
    if (at >= 0) this.#changed.splice(at, 1);
  }

  /** A rollback could not reach the node's agent: left as it was, reported. */
  nodeUnreachable(id: string, error: string, lb: string): void {
    Object.assign(this.#node(id), { state: 'failed', lb, error: `unreachable: ${error}; not rolled back` });
    this.#unreachable.push(id);
    this.record(`${id}: unreachable (${error}); the rollback goes on without it`);
  }
  /** Nodes users reached on the new release: blue-green's target pool only once traffic switched to it (before, only smoke tests did). */
  get served(): readonly string[] {
    return this.#pools && this.#pools.switchedAt === undefined ? [] : this.#served;
  }
  get unreachable(): readonly string[] {
    return this.#unreachable;
  }

  /** Where the node stands is unknown until compensation settles it. */
  nodeFailed(id: string, error: string): void {
    Object.assign(this.#node(id), { state: 'failed', error, lb: 'unknown' });
  }

  /** The first failure is the cause; later ones are consequences. */
  failedBecause(cause: FailureCause): void {
    if (!this.#cause) this.#cause = cause;
  }

  // ---- compensation

  nodeRolledBack(id: string, release: string | null, lb: string): void {
    Object.assign(this.#node(id), { release, lb, state: 'rolled-back' });
    this.record(`${id}: back on ${release ?? '(none)'}, ${lb}`);
  }

  undoFailed(id: string, error: string): void {
    Object.assign(this.#node(id), { state: 'failed', error: `rollback failed: ${error}` });
    this.#undoFailures.push({ node: id, error });
    this.record(`${id}: rollback failed: ${error}`);
  }

  /** An undo step that is not a node's (the migration's, under the runner's name; the switch back, under "load balancer"): reported like a node's. */
  undoStepFailed(where: string, error: string): void {
    this.#undoFailures.push({ node: where, error });
    this.record(error);
  }

  // ---- migrations

  backedUp(backup: NonNullable<MigrationRecord['backup']>, what: string): void {
    this.#migration.backup = backup;
    this.record(what);
  }

  expandStarting(): void {
    this.#migration.expandAttempted = true;
  }

  expanded(expandMs: number, overheadMs: number, what: string): void {
    Object.assign(this.#migration, { expanded: true, expandMs, overheadMs });
    this.record(what);
  }

  contractFailed(error: string, what: string): void {
    this.#migration.contractFailed = error;
    this.record(what);
  }

  contracted(what: string): void {
    this.#migration.contracted = true;
    this.record(what);
  }

  migrationUndone(how: NonNullable<MigrationRecord['undone']>, what: string): void {
    this.#migration.undone = how;
    this.record(what);
  }

  rehearsal(fields: Partial<NonNullable<MigrationRecord['rehearsal']>>, what: string): void {
    this.#migration.rehearsal = { ...(this.#migration.rehearsal ?? { database: '', bytes: 0, copyMs: 0, method: 'template' }), ...fields };
    this.record(what);
  }

  downtimeMeasured(downtimeMs: number): void {
    this.#migration.downtimeMs = downtimeMs;
  }

  // ---- blue-green

  get pools(): Readonly<PoolStatus> | null {
    return this.#pools;
  }

  /** Which pool users reach (the map's live entry); the release goes to the other. */
  poolsFound(live: PoolName, backends: Record<PoolName, string>, nodes: Record<PoolName, string[]>, shadowUrl: string): void {
    const target: PoolName = live === 'blue' ? 'green' : 'blue';
    this.#pools = { live, target, backends, nodes, shadowUrl, smoke: [] };
    for (const pool of ['blue', 'green'] as const) for (const id of nodes[pool]) this.#node(id).pool = pool;
    this.record(`pools: ${live} is live (backend ${backends[live]}); ${this.input.release} goes to ${target} (backend ${backends[target]}), reached at ${shadowUrl} until the switch`);
  }

  smokeTested(results: SmokeResult[]): void {
    this.#pools!.smoke = results;
    for (const r of results) {
      this.record(`smoke test ${r.name}: ${r.passed ? 'passed' : `FAILED (${r.error ?? 'failed'})`}${r.status !== undefined ? `, status ${r.status}` : ''}, ${r.durationMs} ms${!r.passed && r.excerpt ? `; got: ${r.excerpt.slice(0, 120)}` : ''}`);
    }
  }

  switchAttempted(): void {
    this.#pools!.switchAttempted = true;
  }

  switched(switchedAt: number, watchMs: number): void {
    const pools = this.#pools!;
    pools.live = pools.target;
    pools.switchedAt = new Date(switchedAt).toISOString();
    pools.watch = { until: new Date(switchedAt + watchMs).toISOString() };
    this.record(`switched: users reach ${pools.target} (backend ${pools.backends[pools.target]}) on ${this.input.release}`);
  }

  watched(counts: { http5xx: number; connectionErrors: number; requests: number }): void {
    Object.assign(this.#pools!.watch!, counts);
    this.record(`watch passed: ${counts.requests} requests to the new pool, ${counts.http5xx} 5xx, ${counts.connectionErrors} connection errors`);
  }

  switchedBack(to: PoolName, why: string): void {
    const pools = this.#pools!;
    pools.live = to;
    pools.switchedBack = { at: new Date().toISOString(), why };
    this.record(`switched back: users reach ${to} again (${why})`);
  }

  warmUntil(until: number): void {
    const pools = this.#pools!;
    const warm: PoolName = pools.live === 'blue' ? 'green' : 'blue';
    pools.warmUntil = new Date(until).toISOString();
    this.record(`${warm} stays warm until ${pools.warmUntil}: gantry switch-back ${this.input.environment.name} returns traffic to it at once`);
  }

  // ---- views

  status(): DeployStatus {
    const info = workflowInfo();
    return {
      workflowId: info.workflowId,
      runId: info.runId,
      environment: this.input.environment.name,
      release: this.input.release,
      commit: this.#commit,
      changes: this.#changes,
      requestedBy: this.input.requestedBy,
      definitionSha256: this.input.definitionSha256 ?? null,
      artifactSha256: this.input.artifact?.sha256 ?? null,
      plan: this.input.plan ?? null,
      phase: this.#phase,
      paused: this.#pausedBy !== null,
      approvals: [...this.#approvals],
      approvalsNeeded: this.approvalsNeeded,
      approvalsMissing: this.#phase === 'awaiting-approval' ? this.approvalProgress().missing : [],
      ...this.#authorsView(),
      ...(this.input.promotion ? { promotedFrom: this.input.promotion } : {}),
      ...(this.#ciUnavailable ? { ciUnavailable: this.#ciUnavailable } : {}),
      ...(this.#unchecked ? { unchecked: this.#unchecked } : {}),
      signing: {
        identity: this.input.environment.identity !== undefined && this.input.plan !== undefined,
        approvals: this.input.environment.approval?.requireSigned === true,
        control: this.input.environment.control?.requireSigned === true,
      },
      nodes: this.#nodes.map((n) => ({ ...n })),
      migration: this.input.environment.migrations ? { ...this.#migration } : null,
      ...(this.#pools ? { pools: { ...this.#pools, smoke: [...this.#pools.smoke] } } : {}),
      events: [...this.#events],
    };
  }

  result(status: DeployOutcomeStatus, error?: string): DeployResult {
    const { events: _events, ...rest } = this.status();
    return {
      ...rest,
      status,
      ...(error === undefined ? {} : { error }),
      ...(this.#cause ? { cause: this.#cause } : {}),
      undoFailures: [...this.#undoFailures],
    };
  }

  #node(id: string): NodeState {
    const node = this.#nodes.find((n) => n.id === id);
    if (!node) throw new TypeError(`no node ${id}`);
    return node;
  }

  /** What the Temporal UI shows as the run's current details: the phase, the last step, every node. */
  #details(last: string): string {
    // A big fleet: counts per state, then the nodes that are not simply pending or live.
    const counts = new Map<string, number>();
    for (const n of this.#nodes) counts.set(n.state, (counts.get(n.state) ?? 0) + 1);
    const small = this.#nodes.length <= MAX_DETAIL_ROWS;
    const shown = small ? this.#nodes : this.#nodes.filter((n) => n.state !== 'pending' && n.state !== 'live').slice(0, MAX_DETAIL_ROWS);
    const rows = shown.map((n) => `| ${n.id} | ${n.state} | ${n.release ?? '-'} | ${n.lb} |`);
    const tally = small ? [] : [[...counts].map(([state, n]) => `${n} ${state}`).join(', '), ''];
    const definition = this.input.definitionSha256 ? [`definition sha256 ${this.input.definitionSha256.slice(0, 16)}…`, ''] : [];
    const approvals = this.#approvals.length
      ? ['| approval | key | verified |', '| --- | --- | --- |', ...this.#approvals.map((a) => `| ${a.by} | ${a.fingerprint ?? '-'} | ${a.verified ? 'yes' : 'no'} |`), '']
      : [];
    const p = this.#pools;
    const pools = p
      ? [
          `pools: **${p.live}** live (${p.backends[p.live]}), release to ${p.target}${p.switchedAt ? `, switched ${p.switchedAt}` : ''}${p.switchedBack ? `, switched back: ${p.switchedBack.why}` : ''}${p.warmUntil ? `, warm until ${p.warmUntil}` : ''}`,
          ...p.smoke.map((r) => `- smoke ${r.name}: ${r.passed ? 'passed' : `failed: ${r.error ?? ''}`} (${r.status ?? '-'}, ${r.durationMs} ms)`),
          '',
        ]
      : [];
    return [`**${this.#phase}** — ${last}`, '', ...definition, ...pools, ...approvals, ...tally, '| node | state | release | lb |', '| --- | --- | --- | --- |', ...rows].join('\n');
  }

  /** "web-1=v1, web-2=v1" for a small fleet; counts per release for a big one. */
  #summarizeReleases(): string {
    if (this.#nodes.length <= 10) return this.#nodes.map((n) => `${n.id}=${n.release ?? '(none)'}`).join(', ');
    const counts = new Map<string, number>();
    for (const n of this.#nodes) counts.set(n.release ?? '(none)', (counts.get(n.release ?? '(none)') ?? 0) + 1);
    return [...counts].map(([release, n]) => `${n} on ${release}`).join(', ');
  }
}
