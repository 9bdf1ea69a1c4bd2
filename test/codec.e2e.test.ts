// No secret in clear: a deployment whose node config holds secrets in the app's and the migration's
// environment, and whose artifact URL carries a signature, leaves none of them readable in the raw
// history of the deployment or any child; the codec server decodes for its token and the UI's origin
// only; a history written with the old key still decodes after rotation.
import { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EncryptionCodec } from '../client/encryption-codec';
import { payloadCodec } from '../client/data-converter';
import { awaitOutcome } from '../client/deployments';
import { defaultPayloadConverter, DefaultFailureConverter, type LoadedDataConverter } from '@temporalio/common';
import { startDeployment } from '../cli/commands/deploy';
import { parseKeyring } from '../lib/codec/keyring';
import { deploymentWorkflowId, queueWorkflowId } from '../workflows/api';
import { payloadJson } from './helpers/payloads';
import { startTestStack, type TestStack } from './helpers/stack';

const execFileAsync = promisify(execFile);
const APP_SECRET = `app-secret-${randomUUID()}`;
const MIGRATION_SECRET = `migration-secret-${randomUUID()}`;
const URL_SIGNATURE = `sig${randomUUID().replaceAll('-', '')}`;

let stack: TestStack;
let markFile: string;

const sha = (release: string) => stack.repo.releases[release]!.sha256;

/** Every run of the workflow and, recursively, of every child it started. */
async function runsOf(workflowId: string, runId: string): Promise<{ workflowId: string; runId: string }[]> {
  const found = [{ workflowId, runId }];
  const history = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
  for (const e of history.events ?? []) {
    const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    if (child?.workflowId && child.runId) found.push(...(await runsOf(child.workflowId, child.runId)));
  }
  return found;
}

/** `temporal workflow show -o json`: the history as the server stores it, no codec involved. */
async function rawHistory(workflowId: string, runId: string): Promise<string> {
  const { stdout } = await execFileAsync(
    inject('temporalPath'),
    ['workflow', 'show', '--workflow-id', workflowId, '--run-id', runId, '--output', 'json', '--address', stack.temporalAddress, '--namespace', 'default'],
    { maxBuffer: 64 << 20, env: { ...process.env, TEMPORAL_CODEC_ENDPOINT: '' } },
  );
  return stdout;
}

/** Every payload in a proto-JSON history: objects with base64 `data` (and `metadata`). */
function payloadsIn(node: unknown, into: Payload[] = []): Payload[] {
  if (Array.isArray(node)) for (const item of node) payloadsIn(item, into);
  else if (node && typeof node === 'object') {
    const record = node as Record<string, unknown>;
    if (typeof record.data === 'string' && (record.metadata === undefined || typeof record.metadata === 'object')) {
      const metadata = Object.fromEntries(Object.entries((record.metadata ?? {}) as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
      into.push({ metadata, data: Buffer.from(record.data, 'base64') });
    }
    for (const value of Object.values(record)) payloadsIn(value, into);
  }
  return into;
}

const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;
const encoding = (p: Payload) => Buffer.from(p.metadata?.encoding ?? new Uint8Array()).toString();

async function decodePost(body: unknown, headers: Record<string, string>, url = `${inject('codecServerUrl')}/decode`) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, body: (await response.json()) as { payloads?: { metadata?: Record<string, string>; data?: string }[]; error?: string } };
}

const asJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

describe('no secret in clear', () => {
  beforeAll(async () => {
    const dir = `/tmp/gantry-codec-mark-${randomUUID().slice(0, 8)}`;
    markFile = `${dir}.txt`;
    stack = await startTestStack({
      releases: ['v1', 'v2'],
      artifactServer: true,
      node: {
        app: { env: { APP_SECRET } },
        migrations: {
          command: [process.execPath, '-e', 'require("fs").writeFileSync(process.env.MARK_FILE, process.env.MIGRATION_SECRET); console.log("migrated with", process.env.MIGRATION_SECRET)'],
          expand: ['expand'],
          env: { MIGRATION_SECRET, MARK_FILE: markFile },
        },
      },
    });
    await stack.define({ migrations: { backup: { enabled: false } }, artifact: { url: `${stack.artifacts!.url}/app-{release}.tgz?X-Amz-Signature=${URL_SIGNATURE}` } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('holds no secret in the raw history of the deployment or any child, and the artifact URL only encrypted', async () => {
    const handle = await startDeployment(stack.client, stack.name, 'v1', { sha256: sha('v1'), requestedBy: 'codec-check', taskQueue: stack.taskQueue });
    const outcome = await awaitOutcome(handle);
    expect(outcome.status, outcome.error).toBe('live');
    // The migration really ran with its secret.
    expect(await readFile(markFile, 'utf8')).toBe(MIGRATION_SECRET);

    const runs = await runsOf(handle.workflowId, handle.firstExecutionRunId);
    expect(runs.length).toBeGreaterThan(3); // the deployment, its batch and node children
    let encrypted = 0;
    let decodedUrl = 0;
    for (const run of runs) {
      const raw = await rawHistory(run.workflowId, run.runId);
      const payloads = payloadsIn(JSON.parse(raw));
      const bytes = raw + payloads.map((p) => Buffer.from(p.data!).toString('latin1')).join('\n');
      for (const marker of [APP_SECRET, MIGRATION_SECRET, URL_SIGNATURE]) expect(count(bytes, marker), `${marker} in ${run.workflowId}`).toBe(0);
      encrypted += payloads.filter((p) => encoding(p) === 'binary/encrypted').length;
      // Decoded with the keys, the URL is there (so the check above could fail), the secrets never are.
      const decoded = (await payloadCodec().decode(payloads)).map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8')).join('\n');
      for (const marker of [APP_SECRET, MIGRATION_SECRET]) expect(count(decoded, marker)).toBe(0);
      decodedUrl += count(decoded, URL_SIGNATURE);
    }
    expect(encrypted).toBeGreaterThan(20);
    expect(decodedUrl).toBeGreaterThan(0);
  });

  it('the codec server decodes only with its token and only for the Web UI origin', async () => {
    const history = await stack.client.workflow.getHandle(deploymentWorkflowId(stack.name)).fetchHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    expect(encoding(input)).toBe('binary/encrypted');
    const body = { payloads: [asJson(input)] };

    const anonymous = await decodePost(body, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await decodePost(body, { authorization: 'Bearer not-the-token' })).status).toBe(401);

    const withHeader = await decodePost(body, { authorization: `Bearer ${inject('codecToken')}` });
    expect(withHeader.status).toBe(200);
    const plain = withHeader.body.payloads![0]!;
    expect(Buffer.from(plain.metadata!.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(plain.data!, 'base64').toString())).toMatchObject({ environment: stack.name, release: 'v1', requestedBy: 'codec-check' });

    // The Web UI's form: the token as the endpoint's first path segment, from the UI's origin only.
    const uiOrigin = new URL(inject('temporalUiUrl')).origin;
    const viaPath = await decodePost(body, { origin: uiOrigin, 'x-namespace': 'default' }, `${inject('codecServerUrl')}/${inject('codecToken')}/decode`);
    expect(viaPath.status).toBe(200);
    expect(viaPath.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    const elsewhere = await decodePost(body, { origin: 'http://127.0.0.1:1', authorization: `Bearer ${inject('codecToken')}` });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${inject('codecServerUrl')}/${inject('codecToken')}/decode`, {
      method: 'OPTIONS',
      headers: { origin: uiOrigin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('x-namespace');
  });

  it('a history written with the old key still decodes after rotation; without that key it names the key', async () => {
    // The keyring of this run is "test-2,test-1". A client one step behind in the rotation still
    // writes with the old key (old first, new known so it can read the queue's answers).
    const spec = process.env.GANTRY_CODEC_KEYS!;
    const oldOnly = spec.split(',').find((e) => e.startsWith('test-1='))!;
    const newOnly = spec.split(',').find((e) => e.startsWith('test-2='))!;
    const oldCodec = new EncryptionCodec(parseKeyring(`${oldOnly},${newOnly}`));
    const dataConverter: LoadedDataConverter = { payloadConverter: defaultPayloadConverter, failureConverter: new DefaultFailureConverter({ encodeCommonAttributes: true }), payloadCodecs: [oldCodec] };
    const oldClient = new Client({ connection: stack.client.connection, namespace: 'default', dataConverter });
    const handle = await startDeployment(oldClient, stack.name, 'v2', { sha256: sha('v2'), requestedBy: 'before-rotation', taskQueue: stack.taskQueue });
    const outcome = await awaitOutcome(stack.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId));
    expect(outcome.status, outcome.error).toBe('live');

    // The request as the queue accepted it, in whichever of its runs took it.
    let input: Payload | undefined;
    for await (const run of stack.client.workflow.list({ query: `WorkflowId = "${queueWorkflowId(stack.name)}"` })) {
      const events = (await stack.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory()).events ?? [];
      for (const e of events) {
        const arg = e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.args?.payloads?.[0];
        if (arg && JSON.stringify(await payloadJson(arg)).includes('before-rotation')) input = arg;
      }
    }
    expect(input, 'the enqueue update of the old-key client').toBeDefined();
    expect(Buffer.from(input!.metadata!['encryption-key-id']!).toString()).toBe('test-1');
    const history = await stack.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
    const completed = history.events!.find((e) => e.workflowExecutionCompletedEventAttributes)!.workflowExecutionCompletedEventAttributes!.result!.payloads![0]!;
    expect(Buffer.from(completed.metadata!['encryption-key-id']!).toString()).toBe('test-2');
    // The rotated keyring (new first, old kept) reads both; the codec server holds the same.
    expect(await payloadJson(input)).toMatchObject({ release: 'v2', requestedBy: 'before-rotation' });
    const viaServer = await decodePost({ payloads: [asJson(input!)] }, { authorization: `Bearer ${inject('codecToken')}` });
    expect(viaServer.status).toBe(200);
    // Dropping the old key too early is reported, naming the key, not silently garbled.
    await expect(new EncryptionCodec(parseKeyring(newOnly)).decode([input!])).rejects.toThrow(/payload encrypted with key "test-1", which GANTRY_CODEC_KEYS does not hold \(it holds test-2\)/);
    expect((await decodePost({ payloads: [{ ...asJson(input!), data: asJson(input!).data.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }] }, { authorization: `Bearer ${inject('codecToken')}` })).status).toBe(422);
  });
});
