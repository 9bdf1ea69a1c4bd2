// Per-file local stack on the shared Temporal server, with a unique environment and task queue.
import { Client, Connection } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../devkit/local/stack';
import { clientDataConverter } from '../../client/data-converter';
import { awaitOutcome } from '../../client/deployments';
import { startDeployment } from '../../cli/commands/deploy';

export interface TestStack extends LocalStack {
  client: Client;
  dir: string;
  close(): Promise<void>;
}

/** A stack whose fleet already runs `releases[0]` (deployed and live), for tests of what comes after. */
export async function startLiveStack(releases: string[]): Promise<TestStack> {
  const stack = await startTestStack({ releases });
  const first = await awaitOutcome(await startDeployment(stack.client, stack.name, releases[0]!, { sha256: stack.repo.releases[releases[0]!]!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue }));
  if (first.status !== 'live') throw new Error(`the first deployment of ${releases[0]} ended ${first.status}: ${first.error ?? ''}`);
  return stack;
}

export async function startTestStack(options: Partial<LocalStackOptions> = {}): Promise<TestStack> {
  const suffix = randomUUID().slice(0, 8);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-t-'));
  const stack = await startLocalStack({
    dir,
    name: `t-${suffix}`,
    nodeCount: 3,
    releases: ['v1', 'v2', 'v3'],
    haproxyPath: inject('haproxyPath'),
    temporalAddress: inject('temporalAddress'),
    taskQueue: `gantry-test-${suffix}`,
    ...options,
  });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  return {
    ...stack,
    dir,
    client: new Client({ connection, namespace: 'default' , dataConverter: clientDataConverter() }),
    async close() {
      await connection.close();
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
