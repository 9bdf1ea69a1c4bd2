// Builds and signs an operator's statement for the run a client looked at: the facts come from that
// run's status, so a signature can only ever speak for the deployment the operator saw.
import { signText, newNonce, type SigningKey } from '../lib/identity/ssh-signatures';
import { canonicalStatement, signingNamespace, STATEMENT_VERSION, type OperatorActionName, type Statement } from '../lib/identity/statement';
import type { DeployStatus, SignedStatement } from '../workflows/api';

/** What a statement is bound to: a deployment's status, or a warm period's (gantry switch-back). */
export type StatementSubject = Pick<DeployStatus, 'environment' | 'workflowId' | 'runId' | 'release' | 'commit' | 'artifactSha256' | 'plan'>;

export interface StatementRequest {
  status: StatementSubject;
  action: OperatorActionName;
  by: string;
  /** How long the statement stays valid; the orchestrator refuses more than identity.maxStatementAge. */
  validForMs: number;
  now?: Date;
}

export function buildStatement({ status, action, by, validForMs, now = new Date() }: StatementRequest): Statement {
  if (!status.plan) throw new Error(`${status.workflowId} run ${status.runId} started before signed statements existed; send it unsigned`);
  return {
    v: STATEMENT_VERSION,
    environment: status.environment,
    workflowId: status.workflowId,
    runId: status.runId,
    action,
    release: status.release,
    commit: status.commit,
    artifactSha256: status.artifactSha256,
    planHash: status.plan.hash,
    by,
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + validForMs).toISOString(),
    nonce: newNonce(),
  };
}

/** The statement's canonical text signed in namespace gantry@<environment>. */
export async function signStatement(statement: Statement, key: SigningKey): Promise<SignedStatement & { via: string }> {
  const text = canonicalStatement(statement);
  const { signature, via } = await signText(text, signingNamespace(statement.environment), key);
  return { statement: text, signature, via };
}

/** What the operator is about to sign, in a few lines. */
export function describeStatement(s: Statement, planSummary: string): string {
  return [
    `signing as ${s.by}: ${s.action} ${s.workflowId} run ${s.runId}`,
    `  release ${s.release}, commit ${s.commit ?? '(not verified yet)'}, artifact sha256 ${s.artifactSha256 ?? '(none: rollback)'}`,
    `  plan ${s.planHash.slice(0, 12)}…: ${planSummary}`,
    `  valid until ${s.expiresAt} (namespace ${signingNamespace(s.environment)})`,
  ].join('\n');
}
