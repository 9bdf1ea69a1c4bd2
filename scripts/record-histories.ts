// Records the workflow histories the replay tests run (test/replay/<scenario>/*.json): real runs on the
// local stack (dev server, HAProxy, agents), each scenario's deployment runs and every child they
// started. Run it only to add a history for a new path: never regenerate an old one to make a replay
// failure go away (that failure is a running deployment that would break; use patched() or a new build).
//   npx tsx scripts/record-histories.ts [scenario …]
import { Client, Connection } from '@temporalio/client';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { awaitOutcome, awaitStart, deploymentHandle, enqueue, startOrAttach, type DeploymentHandle, type DeployOutcome } from '../client/deployments';
import { controlQueue } from '../client/queue';
import { prepareDeployment } from '../cli/commands/deploy';
import { prepareRollback } from '../cli/commands/rollback';
import { startLocalStack, type LocalStack } from '../devkit/local/stack';
import type { SampleReleaseSpec } from '../devkit/local/sample-releases';
import { startReaperSession } from '../devkit/local/reaper';
import { freePort } from '../devkit/local/ports';
import { setup } from '../devkit/setup';
import { waitUntil } from '../lib/core/wait';
import { abortUpdate, acceptUncheckedUpdate, approveSignal, approveUpdate, deploymentWorkflowId, queueWorkflowId, statusQuery, switchBackUpdate, warmWorkflowId, type DeployStatus } from '../workflows/api';
import { buildStatement, signStatement } from '../client/operator-statement';
import { clientDataConverter } from '../client/data-converter';
import { HaproxyClient } from '../lib/lb/haproxy';

const run = promisify(execFile);
const OUT = fileURLToPath(new URL('../test/replay', import.meta.url));

interface Scenario {
  name: string;
  /** What the deployment must end as, so a recording is what it claims to be. */
  expect: DeployOutcome['status'];
  run(s: Session): Promise<DeploymentHandle>;
  /** Save every run of the environment's queue too. */
  queue?: boolean;
}

interface Session {
  stack: LocalStack;
  /** The stack's folder. */
  dir: string;
  client: Client;
  /** Deploys under the stack's definition with `patch` merged in. */
  deploy(release: string, patch?: Record<string, unknown>, requestedBy?: string): Promise<DeploymentHandle>;
}

const plain: Scenario[] = [
  { name: 'first-deploy', expect: 'live', run: (s) => s.deploy('v1') },
  { name: 'happy-path', expect: 'live', run: (s) => s.deploy('v2') },
  { name: 'rollback-after-failed-health-check', expect: 'rolled-back', run: (s) => s.deploy('v-bad') },
  {
    name: 'manual-rollback',
    expect: 'live',
    run: async (s) => startOrAttach(s.client, await prepareRollback(s.client, await s.stack.define(), { to: 'v1', requestedBy: 'recorder', taskQueue: s.stack.taskQueue })),
  },
  {
    name: 'abort-during-approval',
    expect: 'aborted',
    run: async (s) => {
      const handle = await s.deploy('v2', { approval: { required: true, approvers: ['bob'], timeout: '10m' } }, 'alice');
      await waitUntil(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 100);
      await handle.executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'recording an abort' }] });
      return handle;
    },
  },
  {
    // Signed approvals: an unsigned signal refused, a signed approval for a stale plan refused, then
    // a valid signed one (the verifyStatement activity in history, failed and completed).
    name: 'signed-approval',
    expect: 'live',
    run: async (s) => {
      const keys = await mkdtemp(path.join(os.tmpdir(), 'gantry-record-keys-'));
      const key = path.join(keys, 'bob');
      await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bob', '-f', key]);
      const allowedSigners = path.join(keys, 'allowed_signers');
      await writeFile(allowedSigners, `bob namespaces="gantry@rec" ${(await readFile(`${key}.pub`, 'utf8')).trim()}\n`);
      const identity = { allowedSigners, allowedSignersSha256: createHash('sha256').update(await readFile(allowedSigners)).digest('hex') };
      const handle = await s.deploy('v2', { identity, approval: { required: true, approvers: ['bob'], requireSigned: true, timeout: '10m' } }, 'alice');
      let status: DeployStatus | undefined;
      await waitUntil(async () => (status = await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 100);
      await handle.signal(approveSignal, { by: 'bob' });
      const stale = await signStatement({ ...buildStatement({ status: status!, action: 'approve', by: 'bob', validForMs: 600_000 }), planHash: 'f'.repeat(64) }, { keyFile: key });
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signature: { statement: stale.statement, signature: stale.signature } }] }).catch(() => undefined);
      const valid = await signStatement(buildStatement({ status: status!, action: 'approve', by: 'bob', validForMs: 600_000 }), { keyFile: key });
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob', signature: { statement: valid.statement, signature: valid.signature } }] });
      await rm(keys, { recursive: true, force: true });
      return handle;
    },
  },
  // A rollback that needs only the fleet: no tag or CI, one agent gone (left out and reported).
  { name: 'sick-fleet-v1-setup', expect: 'live', run: (s) => s.deploy('v1') },
  { name: 'sick-fleet-v2-setup', expect: 'live', run: (s) => s.deploy('v2') },
  {
    name: 'rollback-on-a-sick-fleet',
    expect: 'live',
    run: async (s) => {
      const agentBack = s.stack.restartAgent('web-3', 20_000);
      const handle = await startOrAttach(s.client, await prepareRollback(s.client, await s.stack.define(), { to: 'v1', requestedBy: 'recorder', taskQueue: s.stack.taskQueue }));
      await awaitOutcome(handle);
      await agentBack;
      return handle;
    },
  },
  {
    name: 'approval-timeout',
    expect: 'aborted',
    run: async (s) => s.deploy('v2', { approval: { required: true, approvers: ['bob'], timeout: '2s' } }),
  },
  {
    // A server an operator holds in MAINT, the re-check before the switch, and the read-back at the end.
    name: 'operator-maint',
    expect: 'live',
    run: async (s) => {
      const lb = new HaproxyClient(s.stack.haproxy.socket);
      await lb.setServerState(s.stack.haproxy.backend, 'web-3', 'maint');
      try {
        const handle = await s.deploy('v2');
        await awaitOutcome(handle);
        return handle;
      } finally {
        await lb.setServerState(s.stack.haproxy.backend, 'web-3', 'ready');
      }
    },
  },
  {
    // gantry repair's rollback: only the node off the invariant (web-3, drained by hand) changes.
    name: 'repair',
    expect: 'live',
    run: async (s) => {
      await new HaproxyClient(s.stack.haproxy.socket).setServerState(s.stack.haproxy.backend, 'web-3', 'maint');
      const handle = await startOrAttach(s.client, {
        input: { environment: await s.stack.define({}), release: 'v2', kind: 'rollback', repair: true, requestedBy: 'recorder' },
        taskQueue: s.stack.taskQueue,
      });
      await awaitOutcome(handle);
      return handle;
    },
  },
  {
    name: 'contract-failure',
    expect: 'live',
    run: async (s) => {
      await writeFile(path.join(s.dir, 'contract-fails'), '');
      try {
        // The fleet is on v2 after the setup scenarios: v1 changes every node, then the contract fails.
        const handle = await s.deploy('v1', { migrations: { backup: { enabled: false } } });
        await awaitOutcome(handle);
        return handle;
      } finally {
        await rm(path.join(s.dir, 'contract-fails'), { force: true });
      }
    },
  },
  {
    name: 'downtime-mode',
    expect: 'live',
    run: async (s) => {
      // The history is what is replayed: the nodes' migration command needs no database (see `node` below).
      return s.deploy('v2', { migrations: { backup: { enabled: false }, mode: 'downtime' } });
    },
  },
];

// The server suggests continue-as-new after 50 events: a 3-node rollout continues twice.
const continued: Scenario[] = [
  { name: 'continue-as-new-setup', expect: 'live', run: (s) => s.deploy('v1') },
  { name: 'continue-as-new', expect: 'live', run: (s) => s.deploy('v2') },
];

// The queue under latest-wins: a request while a deployment waits for approval, replaced by a newer
// one (superseded, requesters inherited); a lock that holds it and an unlock; the first aborted, the
// newest approved and live. The queue's runs are saved with the deployments.
const queued: Scenario[] = [
  { name: 'queue-setup', expect: 'live', run: (s) => s.deploy('v1') },
  {
    name: 'queue-latest-wins',
    expect: 'live',
    queue: true,
    run: async (s) => {
      const patch = { queue: { policy: 'latest-wins' }, approval: { required: true, approvers: ['bob'], timeout: '10m' } };
      const first = await s.deploy('v2', patch, 'alice');
      await waitUntil(async () => (await first.query(statusQuery)).phase === 'awaiting-approval', 60_000, 100);
      const request = (by: string) => prepareDeployment('rec', 'v2', { sha256: s.stack.repo.releases.v2!.sha256, requestedBy: by, taskQueue: s.stack.taskQueue });
      await enqueue(s.client, request('bob'));
      const newest = await enqueue(s.client, request('carol'));
      await controlQueue(s.client, 'rec', s.stack.taskQueue, { action: 'lock', payload: { by: 'dan', reason: 'recording a lock' } });
      await first.executeUpdate(abortUpdate, { args: [{ by: 'bob', reason: 'recording latest-wins' }] });
      await awaitOutcome(first);
      await controlQueue(s.client, 'rec', s.stack.taskQueue, { action: 'unlock', payload: { by: 'dan' } });
      const handle = await awaitStart(s.client, 'rec', newest.id);
      await waitUntil(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 100);
      await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
      return handle;
    },
  },
  {
    // fifo on a queue that read its definition while idle (the idle re-read path): two requests, in turn.
    name: 'queue-fifo',
    expect: 'live',
    queue: true,
    run: async (s) => {
      await s.stack.define({ queue: { policy: 'fifo' } });
      const request = (release: string) => prepareDeployment('rec', release, { sha256: s.stack.repo.releases[release]!.sha256, requestedBy: 'recorder', taskQueue: s.stack.taskQueue });
      const first = await enqueue(s.client, request('v2'));
      const second = await enqueue(s.client, request('v1'));
      await awaitOutcome(deploymentHandle(s.client, first.deployment!));
      return awaitStart(s.client, 'rec', second.id);
    },
  },
  {
    // batch with CI: two changes held by a lock; the queue asks which is the newest green one (a local
    // server answering GitHub's status and check-runs endpoints: build succeeded) and covers both.
    name: 'queue-batch-green',
    expect: 'live',
    queue: true,
    run: async (s) => {
      const github = http.createServer((req, res) => {
        const checks = /\/check-runs/.test(req.url ?? '');
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(checks ? { total_count: 1, check_runs: [{ id: 1, name: 'build', status: 'completed', conclusion: 'success' }] } : { state: 'success', total_count: 0, statuses: [] }));
      });
      await new Promise<void>((resolve) => github.listen(0, '127.0.0.1', resolve));
      try {
        const ci = { provider: 'github', repository: 'acme/shop', apiUrl: `http://127.0.0.1:${(github.address() as AddressInfo).port}`, requiredChecks: ['build'], pollInterval: '300ms', deadline: '5m' };
        await s.stack.define({ queue: { policy: 'batch' }, ci });
        await controlQueue(s.client, 'rec', s.stack.taskQueue, { action: 'lock', payload: { by: 'recorder', reason: 'collecting a batch' } });
        const request = (release: string, by: string) => prepareDeployment('rec', release, { sha256: s.stack.repo.releases[release]!.sha256, requestedBy: by, taskQueue: s.stack.taskQueue });
        const first = await enqueue(s.client, request('v-authors', 'ann'));
        await enqueue(s.client, request('v2', 'ben'));
        await controlQueue(s.client, 'rec', s.stack.taskQueue, { action: 'unlock', payload: { by: 'recorder' } });
        const handle = await awaitStart(s.client, 'rec', first.id);
        await awaitOutcome(handle);
        return handle;
      } finally {
        github.close();
      }
    },
  },
  {
    // config.templates: each node renders the release's template with the fleet's facts and a secret service by name.
    name: 'configured-nodes',
    expect: 'live',
    run: (s) => s.deploy('v-config', { config: { templates: ['config/app.json.hbs'], services: { cache: 'memcached://127.0.0.1:11211', database: { fromNodeEnv: 'RECORD_DATABASE_URL' } } } }),
  },
  {
    // ci.whenUnavailable: operator — GitHub unreachable (nothing listens), an operator accepts going on without the checks.
    name: 'ci-unavailable-accepted',
    expect: 'live',
    run: async (s) => {
      const ci = { provider: 'github', repository: 'acme/shop', apiUrl: `http://127.0.0.1:${await freePort()}`, requiredChecks: ['build'], pollInterval: '300ms', deadline: '5m', whenUnavailable: 'operator' };
      const handle = await s.deploy('v2', { ci });
      await waitUntil(async () => (await handle.query(statusQuery)).ciUnavailable !== undefined, 60_000, 100);
      await handle.executeUpdate(acceptUncheckedUpdate, { args: [{ by: 'recorder', reason: 'recording an outage' }] });
      return handle;
    },
  },
  {
    // approval.requireAuthors: all — an approver, then each author of the change list.
    name: 'approval-by-authors',
    expect: 'live',
    run: async (s) => {
      const approval = { approvers: ['bob'], timeout: '10m', requireAuthors: 'all', authors: { 'alice@acme.test': 'alice', 'carol@acme.test': 'carol' } };
      const handle = await s.deploy('v-authors', { approval });
      await waitUntil(async () => (await handle.query(statusQuery)).phase === 'awaiting-approval', 60_000, 100);
      for (const by of ['bob', 'alice', 'carol']) await handle.executeUpdate(approveUpdate, { args: [{ by }] });
      return handle;
    },
  },
];

// Blue-green on two pools of two nodes: a switch whose warm period ends by gantry switch-back, and a release
// that fails its health check in the idle pool (stopped there, nothing switched).
const blueGreen: Scenario[] = [
  { name: 'blue-green-setup', expect: 'live', run: (s) => s.deploy('v1') },
  {
    name: 'blue-green-switch-back',
    expect: 'live',
    run: async (s) => {
      const handle = await s.deploy('v2');
      await awaitOutcome(handle);
      const warm = s.client.workflow.getHandle(warmWorkflowId('rec'));
      await warm.executeUpdate(switchBackUpdate, { args: [{ by: 'recorder', reason: 'recording a switch back' }] });
      await warm.result();
      return handle;
    },
  },
  { name: 'blue-green-failed-health', expect: 'rolled-back', run: (s) => s.deploy('v-bad') },
];

async function main(): Promise<void> {
  // Fixtures are replayed by anyone: recorded in clear, whatever keys this shell holds.
  delete process.env.GANTRY_CODEC_KEYS;
  const only = process.argv.slice(2);
  const wanted = (list: Scenario[]) => list.filter((s) => only.length === 0 || only.includes(s.name) || s.name.endsWith('-setup'));
  startReaperSession();
  const tools = setup((line) => console.error(`setup: ${line}`));
  await session(tools, [], wanted(plain));
  await session(tools, ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=50'], wanted(continued));
  await session(tools, [], wanted(blueGreen), { blueGreen: true, nodeCount: 4 });
  const template = path.join(await mkdtemp(path.join(os.tmpdir(), 'gantry-record-template-')), 'app.json.hbs');
  await writeFile(template, '{"node": "{{node.id}}", "peers": [{{#each peers}}"{{address}}"{{#unless @last}},{{/unless}}{{/each}}], "cache": "{{services.cache}}", "db": "{{services.database}}"}\n');
  await session(tools, [], wanted(queued), {
    releases: ['v1', { release: 'v-authors', authors: ['Alice <alice@acme.test>', 'Carol <carol@acme.test>'] }, 'v2', { release: 'v-config', files: { 'config/app.json.hbs': template } }],
    agentEnv: { RECORD_DATABASE_URL: 'postgres://rec:recorded-not-secret@127.0.0.1:5432/rec' },
  });
}

async function session(tools: ReturnType<typeof setup>, serverArgs: string[], scenarios: Scenario[], shape: { blueGreen?: boolean; nodeCount?: number; releases?: SampleReleaseSpec[]; agentEnv?: Record<string, string> } = {}): Promise<void> {
  if (scenarios.every((s) => s.name.endsWith('-setup'))) return;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-record-'));
  const stack = await startLocalStack({
    dir,
    name: 'rec',
    nodeCount: shape.nodeCount ?? 3,
    ...(shape.blueGreen ? { blueGreen: true } : {}),
    releases: shape.releases ?? ['v1', 'v2', { release: 'v-bad', unhealthyOn: ['web-2'] }],
    ...(shape.agentEnv ? { agentEnv: shape.agentEnv } : {}),
    haproxyPath: tools.haproxy,
    temporalPath: tools.temporal,
    temporalServerArgs: serverArgs,
    taskQueue: 'gantry-record',
    // Fixtures are read by anyone who replays them: no encryption.
    plainPayloads: true,
    // The contract step fails only where a scenario left <dir>/contract-fails (cwd is <dir>/nodes/<node>/releases/<release>).
    node: {
      migrations: {
        command: [process.execPath, '-e', "process.exit(process.argv[1] === 'contract' && require('fs').existsSync(require('path').join(process.cwd(), '../../../../contract-fails')) ? 1 : 0)"],
        expand: ['expand'],
        contract: ['contract'],
      },
    },
  });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection, namespace: 'default' , dataConverter: clientDataConverter() });
  try {
    const s: Session = {
      stack,
      dir,
      client,
      deploy: async (release, patch = {}, requestedBy = 'recorder') =>
        startOrAttach(client, prepareDeployment(await stack.define(patch), release, { sha256: stack.repo.releases[release]!.sha256, requestedBy, taskQueue: stack.taskQueue })),
    };
    for (const scenario of scenarios) {
      const handle = await scenario.run(s);
      const outcome = await awaitOutcome(handle);
      if (outcome.status !== scenario.expect) throw new Error(`${scenario.name}: ended ${outcome.status}, expected ${scenario.expect}: ${outcome.error ?? ''}`);
      if (!scenario.name.endsWith('-setup')) await save(client, tools.temporal, stack.temporalAddress, scenario.name, handle.firstExecutionRunId, scenario.queue);
    }
  } finally {
    await connection.close();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Every run of the deployment (continue-as-new chains) and every child those runs started, one file each. */
async function save(client: Client, temporal: string, address: string, scenario: string, firstRunId: string, withQueue = false): Promise<void> {
  const folder = path.join(OUT, scenario);
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  const pending: { workflowId: string; runId: string }[] = [{ workflowId: deploymentWorkflowId('rec'), runId: firstRunId }];
  const queueRuns: { workflowId: string; runId: string }[] = [];
  if (withQueue) for await (const r of client.workflow.list({ query: `WorkflowId = "${queueWorkflowId('rec')}"` })) queueRuns.push({ workflowId: r.workflowId, runId: r.runId });
  // Oldest first; a run continued from another is reached through it, so only the first is listed.
  pending.push(...queueRuns.reverse().slice(0, 1));
  let n = 0;
  const seen = new Set<string>();
  while (pending.length > 0) {
    const { workflowId, runId } = pending.shift()!;
    if (seen.has(runId)) continue;
    seen.add(runId);
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    for (const event of history.events ?? []) {
      const child = event.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
      if (child?.workflowId && child.runId) pending.push({ workflowId: child.workflowId, runId: child.runId });
      const next = event.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      if (next) pending.push({ workflowId, runId: next });
    }
    const type = history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? 'unknown';
    const file = path.join(folder, `${String(++n).padStart(2, '0')}-${type}-${workflowId.replace(/[^A-Za-z0-9-]+/g, '_')}.json`);
    // The temporal CLI writes the canonical proto JSON that historyFromJSON (and the Web UI's import) read.
    const { stdout } = await run(temporal, ['workflow', 'show', '--workflow-id', workflowId, '--run-id', runId, '--output', 'json', '--address', address], { maxBuffer: 64 << 20 });
    await writeFile(file, stdout);
  }
  console.error(`record: ${scenario}: ${n} histories`);
}

main().catch((err: unknown) => {
  console.error('record:', err);
  process.exit(1);
});
