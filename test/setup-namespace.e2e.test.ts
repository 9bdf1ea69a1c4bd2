// `gantry setup-namespace` on a namespace the dev-server helper did not prepare.
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { msToTs } from '@temporalio/common/lib/time';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '../lib/core/wait';
import { runGantry } from './helpers/cli';

const { IndexedValueType } = proto.temporal.api.enums.v1;
let connection: Connection;

async function newNamespace(): Promise<string> {
  const namespace = `gantry-ns-${randomUUID().slice(0, 8)}`;
  await connection.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  // A new namespace takes a moment to reach the server's namespace cache.
  const ready = await waitUntil(() => connection.operatorService.listSearchAttributes({ namespace }).then(() => true, () => false), 30_000, 250);
  expect(ready).toBe(true);
  return namespace;
}

const attributesOf = async (namespace: string) => (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
const gantry = (namespace: string) => runGantry(['setup-namespace'], { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), TEMPORAL_NAMESPACE: namespace });

describe('gantry setup-namespace', () => {
  beforeAll(async () => {
    connection = await Connection.connect({ address: inject('temporalAddress') });
  });
  afterAll(async () => {
    await connection?.close();
  });

  it('registers the four Keyword search attributes once, and a second run changes nothing', async () => {
    const namespace = await newNamespace();
    expect(Object.keys(await attributesOf(namespace)).filter((name) => name.startsWith('Gantry'))).toEqual([]);

    const first = await gantry(namespace);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('added GantryEnvironment, GantryRelease, GantryPhase, GantryRequestedBy');
    const registered = await attributesOf(namespace);
    for (const name of ['GantryEnvironment', 'GantryRelease', 'GantryPhase', 'GantryRequestedBy']) {
      expect(registered[name]).toBe(IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
    }

    const again = await gantry(namespace);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already registered');
  });

  it('a deployment started on a namespace without them names them and the command that adds them', async () => {
    const namespace = await newNamespace();
    const run = await runGantry(['deploy', 'prod', 'v1', '--sha256', 'a'.repeat(64), '--task-queue', 'gantry-test-nowhere'], {
      ...process.env,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: namespace,
    });
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain(`namespace ${namespace} does not define Gantry's search attributes (GantryEnvironment, GantryRelease, GantryPhase, GantryRequestedBy)`);
    expect(run.stderr).toContain('run `gantry setup-namespace` once against it');
  });

  it('refuses an attribute of the wrong type and says how to fix it', async () => {
    const namespace = await newNamespace();
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: { GantryPhase: IndexedValueType.INDEXED_VALUE_TYPE_TEXT } });
    const run = await gantry(namespace);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('GantryPhase is INDEXED_VALUE_TYPE_TEXT; Gantry needs Keyword');
    expect(Object.keys(await attributesOf(namespace))).not.toContain('GantryEnvironment');
  });
});
