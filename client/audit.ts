// The audit bundle of one deployment run: every signed statement the orchestrator verified, its
// signature, the allowed-signers file (and revocation list) it was checked against, and a plain shell
// script that re-verifies them all with ssh-keygen alone: no Gantry, no Temporal.
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { createHash } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { verifyTime } from '../lib/identity/ssh-signatures';
import { signingNamespace, type VerifiedStatement, type VerifyStatementInput } from '../lib/identity/statement';
import { payloadCodec } from './data-converter';

export interface AuditEntry {
  file: string;
  action: string;
  principal: string;
  fingerprint: string;
  verifiedAt: string;
  statementSha256: string;
  allowedSigners: string;
  revokedKeys?: string;
}

export interface AuditBundle {
  workflowId: string;
  runId: string;
  entries: AuditEntry[];
}

async function decode<T>(payloads: temporal.api.common.v1.IPayloads | null | undefined): Promise<T> {
  const [plain] = await payloadCodec().decode(payloads?.payloads ?? []);
  return defaultPayloadConverter.fromPayload<T>(plain!);
}

/** Every verifyStatement activity that completed in the history: the statement as signed and the verdict. */
export async function verifiedStatements(history: temporal.api.history.v1.IHistory): Promise<{ input: VerifyStatementInput; result: VerifiedStatement }[]> {
  const scheduled = new Map<string, temporal.api.common.v1.IPayloads | null | undefined>();
  const out: { input: VerifyStatementInput; result: VerifiedStatement }[] = [];
  for (const event of history.events ?? []) {
    const s = event.activityTaskScheduledEventAttributes;
    if (s?.activityType?.name === 'verifyStatement') scheduled.set(String(event.eventId), s.input);
    const c = event.activityTaskCompletedEventAttributes;
    const input = c ? scheduled.get(String(c.scheduledEventId)) : undefined;
    if (c && input) out.push({ input: await decode<VerifyStatementInput>(input), result: await decode<VerifiedStatement>(c.result) });
  }
  return out;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** Only the statements the deployment accepted (its memo lists them): a verified statement it then refused (a replayed nonce, another sender) is no approval. */
export function acceptedOnly<T extends { result: VerifiedStatement }>(verified: T[], accepted: readonly string[]): T[] {
  const seen = new Set<string>();
  return verified.filter(({ result }) => accepted.includes(result.statementSha256) && !seen.has(result.statementSha256) && seen.add(result.statementSha256));
}

/** Writes the bundle into `dir`: statements/, signatures, allowed-signers files, SHA256SUMS, verify.sh, manifest.json. */
export async function writeAuditBundle(dir: string, workflowId: string, runId: string, verified: { input: VerifyStatementInput; result: VerifiedStatement }[]): Promise<AuditBundle> {
  await mkdir(path.join(dir, 'statements'), { recursive: true });
  const sums: string[] = [];
  const entries: AuditEntry[] = [];
  const written = new Set<string>();
  const keep = async (name: string, text: string) => {
    if (!written.has(name)) await writeFile(path.join(dir, name), text);
    written.add(name);
    return name;
  };
  for (const [i, { input, result }] of verified.entries()) {
    const base = `statements/${String(i + 1).padStart(2, '0')}-${result.statement.action}-${result.principal.replace(/[^A-Za-z0-9._-]/g, '_')}`;
    await writeFile(path.join(dir, `${base}.json`), input.statement);
    await writeFile(path.join(dir, `${base}.json.sig`), input.signature);
    // A file of its own per version of allowed-signers (a deployment may span a key change).
    const allowed = await keep(`allowed_signers-${result.allowedSignersSha256.slice(0, 12)}`, result.allowedSigners);
    const revoked = result.revokedKeys === undefined ? undefined : await keep(`revoked_keys-${sha256(result.revokedKeys).slice(0, 12)}`, result.revokedKeys);
    // The allowed-signers file is checked against the definition's pin as the activity received it, not only against itself.
    sums.push(`${result.statementSha256}  ${base}.json`, `${input.identity.allowedSignersSha256}  ${allowed}`);
    entries.push({
      file: `${base}.json`,
      action: result.statement.action,
      principal: result.principal,
      fingerprint: result.fingerprint,
      verifiedAt: result.verifiedAt,
      statementSha256: result.statementSha256,
      allowedSigners: allowed,
      ...(revoked ? { revokedKeys: revoked } : {}),
    });
  }
  await writeFile(path.join(dir, 'SHA256SUMS'), `${[...new Set(sums)].join('\n')}\n`);
  const bundle: AuditBundle = { workflowId, runId, entries };
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(bundle, null, 2)}\n`);
  const namespace = signingNamespace(verified[0]?.result.statement.environment ?? workflowId.replace(/^deploy\//, ''));
  const checks = entries.map((e) =>
    ['check', quote(e.file), quote(e.principal), quote(namespace), quote(e.allowedSigners), verifyTime(new Date(e.verifiedAt)), e.revokedKeys ? quote(e.revokedKeys) : ''].join(' ').trimEnd(),
  );
  const script = `#!/bin/sh
# Re-verifies every signed statement of ${workflowId} run ${runId} with plain OpenSSH ssh-keygen:
# the signatures (as of the time the orchestrator verified them), the statements' run, and the
# files' sha256 as recorded in the deployment's history (the allowed-signers file against the pin the
# definition carried: compare it with your config repository). Exit 0 only if all hold.
cd "$(dirname "$0")" || exit 2
failed=0
check() { # statement principal namespace allowed-signers verify-time [revoked-keys]
  if ssh-keygen -Y verify -f "$4" -I "$2" -n "$3" -s "$1.sig" -O "verify-time=$5" \${6:+-r "$6"} < "$1" > /dev/null 2>&1 \\
    && grep -qF ${quote(`"runId":"${runId}"`)} "$1"; then
    echo "ok      $1 ($2)"
  else
    echo "FAILED  $1 ($2)"; failed=1
  fi
}
${checks.join('\n')}
if sha256sum -c --quiet SHA256SUMS; then echo "ok      SHA256SUMS"; else echo "FAILED  SHA256SUMS"; failed=1; fi
echo "allowed-signers sha256 pinned by the definition: ${[...new Set(verified.map((v) => v.input.identity.allowedSignersSha256))].join(', ') || '(none)'}"
echo "(compare with identity.allowedSignersSha256 in your config repository's history)"
exit $failed
`;
  await writeFile(path.join(dir, 'verify.sh'), script);
  await chmod(path.join(dir, 'verify.sh'), 0o755);
  return bundle;
}
