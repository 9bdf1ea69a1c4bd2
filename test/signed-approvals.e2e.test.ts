// Signed approvals and operator actions (issue 15), with real ssh-keygen, the real server, agents and
// HAProxy: every forged, altered, misdirected or stale statement is refused with its reason and counts
// for nothing; a valid signed 2-of-3 (one of sre, one of owners) lets the release go live; the audit
// bundle re-verifies offline with plain ssh-keygen and fails once a byte of it changes.
import { WorkflowUpdateFailedError, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { buildStatement, signStatement } from '../client/operator-statement';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { waitUntil } from '../lib/core/wait';
import { signText } from '../lib/identity/ssh-signatures';
import { canonicalStatement, type Statement } from '../lib/identity/statement';
import { abortUpdate, approveSignal, approveUpdate, pauseUpdate, resumeUpdate, statusQuery, type DeployStatus, type SignedStatement } from '../workflows/api';
import type { deployment } from '../workflows/deployment/deployment';
import { startProcess } from '../devkit/local/child-process';
import { caught } from './helpers/caught';
import { runGantry } from './helpers/cli';
import { rejection, waitForStatus } from './helpers/deployment-status';
import { expectInvariant, servedReleases } from './helpers/invariant';
import { startTestStack, type TestStack } from './helpers/stack';

const run = promisify(execFile);
type Handle = WorkflowHandleWithFirstExecutionRunId<typeof deployment>;

let stack: TestStack;
let env: Environment;
let keys: string;
let identityPatch: Record<string, unknown>;
const people = ['alice', 'bob', 'carol', 'dave', 'frank', 'ops', 'erin'] as const;
const key = (who: (typeof people)[number]) => path.join(keys, who);

const sign = async (status: DeployStatus, who: (typeof people)[number], change: Partial<Statement> = {}, action: Statement['action'] = 'approve'): Promise<SignedStatement> => {
  const statement = { ...buildStatement({ status, action, by: who, validForMs: 600_000 }), ...change };
  const { via: _via, ...signed } = await signStatement(statement, { keyFile: key(who) });
  return signed;
};
const fingerprint = async (who: string) => (await run('ssh-keygen', ['-lf', `${key(who as never)}.pub`])).stdout.split(' ')[1]!;

describe('signed approvals and operator actions', () => {
  beforeAll(async () => {
    stack = await startTestStack({ releases: ['v1', 'v2'] });
    env = await loadEnvironmentFile(stack.envFile);
    keys = path.join(stack.dir, 'keys');
    await mkdir(keys);
    for (const who of people) await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', who, '-f', key(who)]);
    // erin's key is nowhere in allowed-signers; frank's is, and is revoked.
    const namespace = `gantry@${stack.name}`;
    const lines = await Promise.all(people.filter((p) => p !== 'erin').map(async (p) => `${p} namespaces="${namespace}" ${(await readFile(`${key(p)}.pub`, 'utf8')).trim()}`));
    const allowedSigners = path.join(keys, 'allowed_signers');
    await writeFile(allowedSigners, `${lines.join('\n')}\n`);
    await writeFile(path.join(keys, 'revoked_keys'), await readFile(`${key('frank')}.pub`, 'utf8'));
    identityPatch = {
      identity: {
        allowedSigners,
        allowedSignersSha256: createHash('sha256').update(await readFile(allowedSigners)).digest('hex'),
        revokedKeys: path.join(keys, 'revoked_keys'),
        aliases: { 'github:alice': 'alice' },
        groups: { sre: ['bob', 'carol', 'frank'], owners: ['dave'], operators: ['ops'] },
      },
      approval: { required: true, approvers: ['@sre', '@owners', 'alice'], minApprovals: 2, requireSigned: true, rules: [{ group: 'sre', min: 1 }, { group: 'owners', min: 1 }], timeout: '5m' },
    };
    const first = await awaitOutcome(await startDeployment(stack.client, await stack.define({}), 'v1', { sha256: stack.repo.releases.v1!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue }));
    expect(first.status).toBe('live');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('refuses every statement that is not a valid signature of an allowed approver for this run and plan; 2 valid signed approvals go live; the audit re-verifies offline', async () => {
    const deploy = async (patch: Record<string, unknown>) =>
      (await startDeployment(stack.client, await stack.define({ ...identityPatch, ...patch }), 'v2', {
        sha256: stack.repo.releases.v2!.sha256,
        requestedBy: 'alice',
        taskQueue: stack.taskQueue,
      })) as Handle;

    // Run 1 covers only two of the nodes. bob signs for it; ops aborts it, signed, from the CLI.
    const first = await deploy({ nodes: env.nodes.slice(0, 2) });
    const firstStatus = await waitForStatus(first, (s) => s.phase === 'awaiting-approval', 'run 1 awaiting approval');
    expect(firstStatus.plan?.summary).toBe('2 node(s) in 2 batch(es), rolling');
    const fromRunOne = await sign(firstStatus, 'bob');
    const erinAborts = await runGantry(['abort', stack.name, '--as', 'erin', '--reason', 'mine', '--no-sign'], stack.clientEnv);
    expect(erinAborts.code).toBe(4);
    expect(erinAborts.stderr).toContain(`abort rejected: erin may not abort deployments of ${stack.name} (control.allowed: alice, bob, carol, frank, dave, ops)`);
    const opsAborts = await runGantry(['abort', stack.name, '--as', 'ops', '--reason', 'plan changes', '--key', key('ops'), '--run', firstStatus.runId], stack.clientEnv);
    expect(opsAborts.stderr).toContain(`signing as ops: abort ${first.workflowId} run ${firstStatus.runId}`);
    expect(opsAborts.code, opsAborts.stderr).toBe(0);
    expect((await awaitOutcome(first)).status).toBe('aborted');
    const opsKey = await fingerprint('ops');
    expect((await first.query(statusQuery)).events.some((e) => e.what === `abort requested by ops (signed, key ${opsKey}): plan changes`)).toBe(true);

    // Run 2: all three nodes (a node added to the definition: another plan).
    const handle = await deploy({});
    const status = await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 'run 2 awaiting approval');
    expect(status.plan!.hash).not.toBe(firstStatus.plan!.hash);
    expect(await servedReleases(env)).toEqual(Object.fromEntries(stack.nodeIds.map((id) => [id, 'v1'])));
    const approve = (by: string, signature?: SignedStatement) => handle.executeUpdate(approveUpdate, { args: [{ by, ...(signature ? { signature } : {}) }] });

    // Unsigned, through the CLI and through a bare `temporal workflow signal`.
    const unsigned = await runGantry(['approve', stack.name, '--as', 'bob', '--no-sign'], stack.clientEnv);
    expect(unsigned.code).toBe(4);
    expect(unsigned.stderr).toContain(`approve rejected: bob's approve is not signed, and ${stack.name} counts only signed ones: run gantry approve ${stack.name} --as bob --key ~/.ssh/id_ed25519 (or with the key in ssh-agent)`);
    await run(inject('temporalPath'), ['workflow', 'signal', '--workflow-id', handle.workflowId, '--name', 'approve', '--input', '{"by":"bob"}', '--address', stack.temporalAddress, '--namespace', 'default']);
    await waitForStatus(handle, (s) => s.events.some((e) => e.what.startsWith("rejected approve signal: bob's approve is not signed")), 'the unsigned signal refused');

    // One byte of a valid statement changed after signing.
    const valid = await sign(status, 'bob');
    const altered = { ...valid, statement: valid.statement.replace(/"nonce":"(.)/, (_m, c: string) => `"nonce":"${c === 'A' ? 'B' : 'A'}`) };
    expect(altered.statement).not.toBe(valid.statement);
    expect(await rejection(approve('bob', altered))).toBe("bob's signed approve: the signature does not match the statement: the statement was altered after signing, or another text was signed");

    // Signed in another namespace.
    const statement = buildStatement({ status, action: 'approve', by: 'bob', validForMs: 600_000 });
    const otherNamespace = { statement: canonicalStatement(statement), signature: (await signText(canonicalStatement(statement), 'gantry@elsewhere', { keyFile: key('bob') })).signature };
    expect(await rejection(approve('bob', otherNamespace))).toBe(
      `bob's signed approve: the signature was made for another namespace than gantry@${stack.name}; sign with ssh-keygen -Y sign -n gantry@${stack.name} (gantry does)`,
    );

    // Expired.
    const past = new Date(Date.now() - 20 * 60_000);
    const expired = await sign(status, 'bob', { issuedAt: past.toISOString(), expiresAt: new Date(past.getTime() + 5 * 60_000).toISOString() });
    expect(await rejection(approve('bob', expired))).toMatch(/^bob's signed approve expired at \S+; sign a new one$/);

    // A key that is not in allowed-signers, claiming to be bob.
    const stranger = await (async () => {
      const text = canonicalStatement(buildStatement({ status, action: 'approve', by: 'bob', validForMs: 600_000 }));
      return { statement: text, signature: (await signText(text, `gantry@${stack.name}`, { keyFile: key('erin') })).signature };
    })();
    expect(await rejection(approve('bob', stranger))).toBe(
      `bob's signed approve: key ${await fingerprint('erin')} is not in the allowed-signers file (identity.allowedSigners); add it there, pin the new file's sha256, or sign with a listed key`,
    );

    // A revoked key.
    expect(await rejection(approve('frank', await sign(status, 'frank')))).toBe(`frank's signed approve: key ${await fingerprint('frank')} is revoked (identity.revokedKeys)`);

    // bob's statement for run 1, replayed into run 2.
    expect(await rejection(approve('bob', fromRunOne))).toBe(
      `bob's signed approve is for run ${firstStatus.runId}, not this run (${status.runId}): a statement counts only for the run it was signed for; sign again`,
    );

    // Signed for this run but for the plan bob saw before the node was added.
    expect(await rejection(approve('bob', await sign(status, 'bob', { planHash: firstStatus.plan!.hash })))).toBe(
      `bob's signed approve is for plan ${firstStatus.plan!.hash.slice(0, 12)}…, but this run's plan is ${status.plan!.hash.slice(0, 12)}… (the definition changed the nodes, batches, strategy or migrations since it was signed): review gantry status and sign again`,
    );

    // A valid statement of bob's, sent as carol's approval: verified, then refused (and left out of the audit).
    expect(await rejection(handle.executeUpdate(approveUpdate, { args: [{ by: 'carol', signature: await sign(status, 'bob') }] }))).toBe('the statement is signed by bob but the message says carol');

    // The requester's own approval, validly signed.
    expect(await rejection(approve('alice', await sign(status, 'alice')))).toBe('alice requested this deployment and may not approve it (allowSelfApproval is false)');

    // None of it counted, and nothing changed on the fleet.
    const untouched = await handle.query(statusQuery);
    expect(untouched.phase).toBe('awaiting-approval');
    expect(untouched.approvals).toEqual([]);
    expect(untouched.approvalsNeeded).toBe(2);
    expect(untouched.approvalsMissing).toEqual(['1 more of sre', '1 more of owners']);
    expect(await servedReleases(env)).toEqual(Object.fromEntries(stack.nodeIds.map((id) => [id, 'v1'])));

    // carol signs from the CLI with her key file; a --run for another run is refused first.
    const wrongRun = await runGantry(['approve', stack.name, '--as', 'carol', '--key', key('carol'), '--run', firstStatus.runId], stack.clientEnv);
    expect(wrongRun.code).toBe(4);
    expect(wrongRun.stderr).toContain(`approve refused: the deployment of ${stack.name} is now run ${status.runId}`);
    const carol = await runGantry(['approve', stack.name, '--as', 'carol', '--key', key('carol'), '--run', status.runId, '--json'], stack.clientEnv);
    expect(carol.code, carol.stderr).toBe(0);
    expect(carol.stderr).toContain(`release v2, commit ${status.commit}, artifact sha256 ${stack.repo.releases.v2!.sha256}`);
    expect(carol.stderr).toContain('3 node(s) in 3 batch(es), rolling');
    const afterCarol = JSON.parse(carol.stdout) as DeployStatus;
    expect(afterCarol.approvals).toMatchObject([{ by: 'carol', verified: true, fingerprint: await fingerprint('carol') }]);
    expect(afterCarol.approvalsMissing).toEqual(['1 more of owners']);
    // dave signs through ssh-agent (no --key): the agent is asked first.
    const socket = path.join(stack.dir, 'agent.sock');
    const agent = startProcess('ssh-agent', ['-D', '-a', socket], { logFile: path.join(stack.dir, 'ssh-agent.log'), env: process.env });
    try {
      expect(await waitUntil(async () => (await readdir(stack.dir)).includes('agent.sock'), 10_000, 50)).toBe(true);
      await run('ssh-add', [key('dave')], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      const dave = await runGantry(['approve', stack.name, '--as', 'dave'], { ...stack.clientEnv, SSH_AUTH_SOCK: socket });
      expect(dave.code, dave.stderr).toBe(0);
      expect(dave.stderr).toContain('signed with ssh-agent (dave)');
      expect(dave.stdout).toContain(`approved by carol (signed, key ${await fingerprint('carol')}), dave (signed, key ${await fingerprint('dave')})`);
    } finally {
      await agent.stop();
    }

    const outcome = await awaitOutcome(handle);
    expect(outcome.status).toBe('live');
    await expectInvariant(env, outcome.nodes!);
    expect(await servedReleases(env)).toEqual(Object.fromEntries(stack.nodeIds.map((id) => [id, 'v2'])));
    expect((await handle.query(statusQuery)).approvals.map((a) => [a.by, a.verified])).toEqual([['carol', true], ['dave', true]]);
    // The UI's current details show who approved, with which key, verified.
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain(`| dave | ${await fingerprint('dave')} | yes |`);

    // The audit bundle: re-verified with plain ssh-keygen, then failing once a byte of it changes.
    const out = path.join(stack.dir, 'audit');
    const audit = await runGantry(['audit', stack.name, '--run', status.runId, '--out', out], stack.clientEnv);
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toContain(`2 signed statement(s) of ${handle.workflowId} run ${status.runId}`);
    const verified = await run('sh', [path.join(out, 'verify.sh')], { env: { PATH: process.env.PATH } });
    expect(verified.stdout.match(/^ok {6}statements\//gm)).toHaveLength(2);
    expect(verified.stdout).toContain('ok      SHA256SUMS');
    const [firstFile] = (await readdir(path.join(out, 'statements'))).filter((f) => f.endsWith('.json'));
    const target = path.join(out, 'statements', firstFile!);
    const bytes = await readFile(target);
    bytes[bytes.length - 3] = bytes[bytes.length - 3] === 0x41 ? 0x42 : 0x41;
    await writeFile(target, bytes);
    const tampered = await caught(run('sh', [path.join(out, 'verify.sh')], { env: { PATH: process.env.PATH } }));
    expect((tampered as { code?: number }).code).toBe(1);
    expect((tampered as { stdout: string }).stdout).toContain(`FAILED  statements/${firstFile}`);
    expect((tampered as { stdout: string }).stdout).toContain('FAILED  SHA256SUMS');
  });

  it("a webhook requester is its principal; concurrent and replayed statements count once; a signed signal counts; control actions must be signed and listed", async () => {
    const handle = (await startDeployment(stack.client, await stack.define({ ...identityPatch, control: { requireSigned: true } }), 'v1', {
      sha256: stack.repo.releases.v1!.sha256,
      requestedBy: 'github:alice',
      taskQueue: stack.taskQueue,
    })) as Handle;
    const status = await waitForStatus(handle, (s) => s.phase === 'awaiting-approval', 'awaiting approval');
    expect(status.requestedBy).toBe('github:alice');
    expect(await rejection(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', signature: await sign(status, 'alice') }] }))).toBe(
      'alice requested this deployment and may not approve it (allowSelfApproval is false)',
    );
    // The same signed approval twice at once counts once; a signed signal counts like an update.
    const bob = await sign(status, 'bob');
    const both = await Promise.allSettled([0, 1].map(() => handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signature: bob }] })));
    expect(both.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as WorkflowUpdateFailedError).cause?.message).toMatch(
      /^(bob has already approved; each approver counts once|bob's signed approve was already used \(nonce \S+\); sign a new statement)$/,
    );
    await handle.signal(approveSignal, { by: 'carol', signature: await sign(status, 'carol') });
    const twoOfSre = await waitForStatus(handle, (s) => s.approvals.length === 2, 'carol by signal');
    expect(twoOfSre.approvals.map((a) => [a.by, a.verified])).toEqual([['bob', true], ['carol', true]]);
    expect(twoOfSre.approvalsMissing).toEqual(['1 more of owners']);

    // A signed pause, a signed resume, and the first pause statement again: its nonce is spent.
    const pause = await sign(status, 'ops', {}, 'pause');
    await handle.executeUpdate(pauseUpdate, { args: [{ by: 'ops', signature: pause }] });
    await handle.executeUpdate(resumeUpdate, { args: [{ by: 'ops', signature: await sign(status, 'ops', {}, 'resume') }] });
    expect(await rejection(handle.executeUpdate(pauseUpdate, { args: [{ by: 'ops', signature: pause }] }))).toMatch(/^ops's signed pause was already used \(nonce \S+\); sign a new statement$/);
    const abort = (by: string, signature?: SignedStatement) => handle.executeUpdate(abortUpdate, { args: [{ by, reason: 'stop', ...(signature ? { signature } : {}) }] });
    expect(await rejection(abort('ops'))).toBe(`ops's abort is not signed, and ${stack.name} counts only signed ones: run gantry abort ${stack.name} --as ops --key ~/.ssh/id_ed25519 (or with the key in ssh-agent)`);
    expect(await rejection(abort('erin', await sign(status, 'erin', {}, 'abort')))).toMatch(/^erin may not abort deployments of/);
    // An approval statement cannot be used to abort.
    expect(await rejection(abort('ops', await sign(status, 'ops', {}, 'approve')))).toBe("ops's signed approve cannot be used to abort");
    const accepted = await handle.executeUpdate(abortUpdate, { args: [{ by: 'ops', reason: 'stop', signature: await sign(status, 'ops', {}, 'abort') }] });
    expect(accepted.events.at(-1)?.what).toContain(`abort requested by ops (signed, key ${await fingerprint('ops')}): stop`);
    expect((await awaitOutcome(handle)).status).toBe('aborted');
  });
});
