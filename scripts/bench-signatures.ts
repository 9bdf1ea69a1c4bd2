// `npm run bench:signatures`: what a signed approval costs. (1) Verification alone: the orchestrator's
// verifyStatement activity (three ssh-keygen runs and the binding checks) over a real allowed-signers
// file, and signing with ssh-keygen -Y sign, median ms. (2) On the demo's stack (3 nodes, its own dev
// server): the round trip of an approve update, unsigned and signed, alternating, one per deployment.
// Options: --rounds <n> (default 5 deployments per kind).
import { Client, Connection } from '@temporalio/client';
import { Command } from 'commander';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createSignatureActivities } from '../activities/orchestrator/signatures';
import { clientDataConverter } from '../client/data-converter';
import { awaitOutcome } from '../client/deployments';
import { buildStatement, signStatement } from '../client/operator-statement';
import { startDeployment } from '../cli/commands/deploy';
import { startReaperSession } from '../devkit/local/reaper';
import { startLocalStack } from '../devkit/local/stack';
import { setup } from '../devkit/setup';
import { createLogger } from '../lib/core/logger';
import { waitUntil } from '../lib/core/wait';
import { approveUpdate, statusQuery, type DeployStatus } from '../workflows/api';

const run = promisify(execFile);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main() {
  const options = new Command('bench:signatures').option('--rounds <n>', 'deployments per kind', '5').parse().opts<{ rounds: string }>();
  const rounds = Number(options.rounds);
  startReaperSession();
  const tools = setup(() => undefined);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-bench-sig-'));
  const stack = await startLocalStack({ dir, name: 'bench', nodeCount: 3, releases: ['v1', 'v2'], haproxyPath: tools.haproxy, temporalPath: tools.temporal, taskQueue: 'gantry-bench' });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  try {
    const key = path.join(dir, 'bob');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bob', '-f', key]);
    const allowedSigners = path.join(dir, 'allowed_signers');
    await writeFile(allowedSigners, `bob namespaces="gantry@bench" ${(await readFile(`${key}.pub`, 'utf8')).trim()}\n`);
    const identity = { allowedSigners, allowedSignersSha256: createHash('sha256').update(await readFile(allowedSigners)).digest('hex'), maxStatementAge: 3_600_000, aliases: {}, groups: {} };
    const client = new Client({ connection, namespace: 'default', dataConverter: clientDataConverter() });

    const awaiting = async (release: string) => {
      const handle = await startDeployment(client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue });
      let status: DeployStatus | undefined;
      if (!(await waitUntil(async () => (status = await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 20))) throw new Error('never awaited approval');
      return { handle, status: status! };
    };
    await stack.define({ identity, approval: { approvers: ['bob'], minApprovals: 1, timeout: '5m' } });
    const first = await awaiting('v1');
    await first.handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    await awaitOutcome(first.handle);

    // (1) Verification and signing alone, on a statement for a deployment awaiting approval.
    const { handle: waiting, status } = await awaiting('v2');
    const activities = createSignatureActivities({ logger: createLogger('bench', 'silent') });
    const verify = (input: Parameters<typeof activities.verifyStatement>[0]) => activities.verifyStatement(input);
    const expected = { environment: status.environment, workflowId: status.workflowId, runId: status.runId, action: 'approve' as const, release: status.release, commit: status.commit, artifactSha256: status.artifactSha256, planHash: status.plan!.hash };
    const signMs: number[] = [];
    const verifyMs: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const signed = await signStatement(buildStatement({ status, action: 'approve', by: 'bob', validForMs: 600_000 }), { keyFile: key });
      const t1 = performance.now();
      await verify({ identity, expected, statement: signed.statement, signature: signed.signature });
      signMs.push(t1 - t0);
      verifyMs.push(performance.now() - t1);
    }
    await waiting.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
    await awaitOutcome(waiting);

    // (2) The approve update's round trip on the real server, unsigned then signed, alternating.
    const trips: Record<'unsigned' | 'signed', number[]> = { unsigned: [], signed: [] };
    for (let i = 0; i < rounds * 2; i++) {
      const kind = i % 2 === 0 ? 'unsigned' : 'signed';
      const release = i % 2 === 0 ? 'v1' : 'v2';
      const { handle, status: s } = await awaiting(release);
      const signature = kind === 'signed' ? await signStatement(buildStatement({ status: s, action: 'approve', by: 'bob', validForMs: 600_000 }), { keyFile: key }) : undefined;
      const t0 = performance.now();
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', ...(signature ? { signature: { statement: signature.statement, signature: signature.signature } } : {}) }] });
      trips[kind].push(performance.now() - t0);
      const outcome = await awaitOutcome(handle);
      if (outcome.status !== 'live') throw new Error(`deployment of ${release} ended ${outcome.status}: ${outcome.error}`);
    }
    const f = (ms: number) => ms.toFixed(1);
    console.log('## Signed approvals (ssh-keygen -Y, ed25519)\n');
    console.log('| step | median ms | min ms | max ms |\n| --- | ---: | ---: | ---: |');
    console.log(`| sign a statement (ssh-keygen -Y sign, key file) | ${f(median(signMs))} | ${f(Math.min(...signMs))} | ${f(Math.max(...signMs))} |`);
    console.log(`| verify it (verifyStatement: check-novalidate, find-principals, verify, binding) | ${f(median(verifyMs))} | ${f(Math.min(...verifyMs))} | ${f(Math.max(...verifyMs))} |`);
    for (const kind of ['unsigned', 'signed'] as const) {
      const t = trips[kind];
      console.log(`| approve update round trip, ${kind} (${t.length} deployments) | ${f(median(t))} | ${f(Math.min(...t))} | ${f(Math.max(...t))} |`);
    }
    console.log(`\nsigned − unsigned approve, median: ${f(median(trips.signed) - median(trips.unsigned))} ms per approval`);
  } finally {
    await connection.close();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error('bench:signatures:', err);
  process.exit(1);
});
