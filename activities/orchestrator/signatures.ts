// Verifies an operator's signed statement for the deployment workflow: the signature with plain
// ssh-keygen against the definition's allowed-signers file (pinned by sha256), then that the statement
// is for this environment, run, action, release, commit, artifact and plan, and still valid.
import { ApplicationFailure } from '@temporalio/activity';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { formatDuration } from '../../lib/config/duration';
import { InputError } from '../../lib/core/errors';
import { failureTypes } from '../../lib/core/failure-types';
import type { Logger } from '../../lib/core/logger';
import { SignatureRefused, sha256Hex, verifySignature } from '../../lib/identity/ssh-signatures';
import { parseStatement, signingNamespace, type ExpectedBinding, type Statement, type VerifiedStatement, type VerifyStatementInput } from '../../lib/identity/statement';

export type { VerifiedStatement, VerifyStatementInput };

/** Clocks of laptops and servers differ a little; a statement from further ahead is refused. */
const CLOCK_SKEW_MS = 5 * 60_000;

const refuse = (message: string, type: string = failureTypes.signatureRefused) => ApplicationFailure.nonRetryable(message, type);

export function createSignatureActivities({ logger }: { logger: Logger }) {
  return {
    async verifyStatement(input: VerifyStatementInput): Promise<VerifiedStatement> {
      const started = Date.now();
      const now = new Date();
      const { identity, expected } = input;
      const allowedSigners = await readFile(identity.allowedSigners, 'utf8').catch((err: NodeJS.ErrnoException) => {
        throw refuse(`cannot read identity.allowedSigners ${identity.allowedSigners} (${err.code ?? err.message})`, failureTypes.allowedSignersChanged);
      });
      const pinned = sha256Hex(allowedSigners);
      if (pinned !== identity.allowedSignersSha256) {
        throw refuse(
          `the allowed-signers file ${identity.allowedSigners} has sha256 ${pinned}, but the definition pins ${identity.allowedSignersSha256}: review the change, then set identity.allowedSignersSha256`,
          failureTypes.allowedSignersChanged,
        );
      }
      let statement: Statement;
      try {
        statement = parseStatement(input.statement);
      } catch (err) {
        throw refuse(err instanceof InputError ? err.message : String(err));
      }
      const namespace = signingNamespace(expected.environment);
      // ssh-keygen reads copies of exactly the bytes hashed (and recorded): a file swapped meanwhile changes nothing.
      const revokedKeys = identity.revokedKeys
        ? await readFile(identity.revokedKeys, 'utf8').catch((err: NodeJS.ErrnoException) => {
            throw refuse(`cannot read identity.revokedKeys ${identity.revokedKeys} (${err.code ?? err.message})`, failureTypes.allowedSignersChanged);
          })
        : undefined;
      const copies = await mkdtemp(path.join(os.tmpdir(), 'gantry-signers-'));
      try {
        const allowedSignersFile = path.join(copies, 'allowed_signers');
        await writeFile(allowedSignersFile, allowedSigners);
        const revokedKeysFile = revokedKeys === undefined ? undefined : path.join(copies, 'revoked_keys');
        if (revokedKeysFile) await writeFile(revokedKeysFile, revokedKeys!);
        const { fingerprint } = await verifySignature({
          text: input.statement,
          signature: input.signature,
          namespace,
          allowedSignersFile,
          ...(revokedKeysFile ? { revokedKeysFile } : {}),
          principal: statement.by,
          at: now,
        });
        const mismatch = bindingProblem(statement, expected, now, identity.maxStatementAge);
        if (mismatch) throw refuse(mismatch);
        logger.info({ principal: statement.by, fingerprint, action: statement.action, ms: Date.now() - started }, 'signed statement verified');
        return {
          principal: statement.by,
          fingerprint,
          statement,
          statementSha256: sha256Hex(input.statement),
          verifiedAt: now.toISOString(),
          allowedSigners,
          allowedSignersSha256: pinned,
          ...(revokedKeys === undefined ? {} : { revokedKeys }),
        };
      } catch (err) {
        if (err instanceof SignatureRefused) throw refuse(`${statement.by}'s signed ${statement.action}: ${err.message}`);
        throw err;
      } finally {
        await rm(copies, { recursive: true, force: true });
      }
    },
  };
}

/** Why the statement is not for this run, or undefined when it is. */
function bindingProblem(s: Statement, e: ExpectedBinding, now: Date, maxAgeMs: number): string | undefined {
  const who = `${s.by}'s signed ${s.action}`;
  if (s.environment !== e.environment) return `${who} is for environment ${s.environment}, not ${e.environment}`;
  if (s.workflowId !== e.workflowId) return `${who} is for workflow ${s.workflowId}, not ${e.workflowId}`;
  if (s.runId !== e.runId) return `${who} is for run ${s.runId}, not this run (${e.runId}): a statement counts only for the run it was signed for; sign again`;
  if (s.action !== e.action) return `${who} cannot be used to ${e.action}`;
  if (s.release !== e.release) return `${who} is for release ${s.release}, not ${e.release}`;
  // Abort, pause and resume may be signed before verify has named the commit.
  if (s.commit !== e.commit && !(s.commit === null && ['abort', 'pause', 'resume'].includes(s.action))) return `${who} is for commit ${s.commit ?? '(none)'}, not ${e.commit ?? '(none)'}`;
  if (s.artifactSha256 !== e.artifactSha256) return `${who} is for artifact sha256 ${s.artifactSha256 ?? '(none)'}, not ${e.artifactSha256 ?? '(none)'}`;
  if (s.planHash !== e.planHash) {
    return `${who} is for plan ${s.planHash.slice(0, 12)}…, but this run's plan is ${e.planHash.slice(0, 12)}… (the definition changed the nodes, batches, strategy or migrations since it was signed): review gantry status and sign again`;
  }
  const issued = Date.parse(s.issuedAt);
  const expires = Date.parse(s.expiresAt);
  if (issued > now.getTime() + CLOCK_SKEW_MS) return `${who} is issued at ${s.issuedAt}, in the future; check the signer's clock`;
  if (expires <= now.getTime()) return `${who} expired at ${s.expiresAt}; sign a new one`;
  if (expires - issued > maxAgeMs) return `${who} is valid for ${formatDuration(expires - issued)}, longer than identity.maxStatementAge (${formatDuration(maxAgeMs)})`;
  return undefined;
}

export type SignatureActivities = ReturnType<typeof createSignatureActivities>;
