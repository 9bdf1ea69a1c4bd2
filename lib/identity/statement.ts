// What an operator signs: a canonical JSON statement bound to one run of one deployment, its release,
// commit, artifact digest and plan. Canonical means one byte sequence per statement (fixed key order,
// no whitespace), so the signed bytes are exactly what the orchestrator parses and the audit re-reads.
import { z } from 'zod';
import { describeIssues } from '../config/environment-rules';
import { InputError } from '../core/errors';
import { strictObject } from '../config/strict';
import type { Identity } from '../config/environment-schema';

export const STATEMENT_VERSION = 1;

/** Actions an operator can sign; each is checked against the definition's list of who may take it. */
export const operatorActions = ['approve', 'reject', 'abort', 'pause', 'resume', 'switch-back', 'accept-unchecked'] as const;
export type OperatorActionName = (typeof operatorActions)[number];

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits');
const instant = z.iso.datetime({ message: 'expected an ISO 8601 time in UTC, e.g. 2026-12-03T10:00:00.000Z' });

export const statementSchema = strictObject({
  v: z.literal(STATEMENT_VERSION),
  environment: z.string().min(1),
  workflowId: z.string().min(1),
  runId: z.string().min(1),
  action: z.enum(operatorActions),
  release: z.string().min(1),
  commit: z.string().regex(/^[0-9a-f]{40}$/, 'expected the 40-hex commit').nullable(),
  artifactSha256: sha256.nullable(),
  planHash: sha256,
  /** A principal of the allowed-signers file: no patterns (*, ?, !), no lists (,), nothing ssh-keygen could read as an option. */
  by: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$/, 'expected a principal name: letters, digits and . _ @ + : - (no patterns or lists)'),
  issuedAt: instant,
  expiresAt: instant,
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'expected 16 to 64 URL-safe characters'),
});
export type Statement = z.infer<typeof statementSchema>;

/** The signing namespace (`ssh-keygen -Y sign -n`): a signature for one environment is no use in another. */
export const signingNamespace = (environment: string) => `gantry@${environment}`;

/** The statement's one canonical text: keys in the schema's order, no whitespace. */
export function canonicalStatement(statement: Statement): string {
  const ordered = Object.fromEntries(Object.keys(statementSchema.shape).map((key) => [key, statement[key as keyof Statement]]));
  return JSON.stringify(ordered);
}

/** Parses signed text; refuses anything that is not a statement in its canonical form. */
export function parseStatement(text: string): Statement {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new InputError('the statement is not JSON');
  }
  const parsed = statementSchema.safeParse(raw);
  if (!parsed.success) throw new InputError(`the statement is invalid: ${describeIssues(parsed.error).replace(/\n/g, '; ')}`);
  if (canonicalStatement(parsed.data) !== text) throw new InputError('the statement is not in canonical form (keys in order, no whitespace); sign what gantry prints');
  return parsed.data;
}

/** What the statement must say: this run's facts, from the workflow. */
export interface ExpectedBinding {
  environment: string;
  workflowId: string;
  runId: string;
  action: OperatorActionName;
  release: string;
  commit: string | null;
  artifactSha256: string | null;
  planHash: string;
}

export interface VerifyStatementInput {
  identity: Identity;
  expected: ExpectedBinding;
  statement: string;
  signature: string;
}

/** Recorded in history: who signed, with which key, what, and the allowed-signers file it was checked against (for the audit). */
export interface VerifiedStatement {
  principal: string;
  fingerprint: string;
  statement: Statement;
  statementSha256: string;
  verifiedAt: string;
  allowedSigners: string;
  allowedSignersSha256: string;
  revokedKeys?: string;
}
