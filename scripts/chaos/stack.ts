// The stack chaos trials run on: its own Temporal dev server (a trial restarts it), artifacts over
// HTTP (a trial makes them fail), and a notification webhook nobody answers.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { awaitOutcome } from '../../client/deployments';
import { startDeployment } from '../../cli/commands/deploy';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../devkit/local/ports';
import { startLocalStack, type LocalStack } from '../../devkit/local/stack';
import { setup } from '../../devkit/setup';
import { clientDataConverter } from '../../client/data-converter';

export async function startChaosStack(log: (line: string) => void = () => {}): Promise<LocalStack & { close(): Promise<void> }> {
  const tools = setup(log);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-chaos-'));
  const deadPort = await freePort();
  const stack = await startLocalStack({
    dir,
    name: 'chaos',
    nodeCount: 3,
    releases: ['v1', 'v2'],
    haproxyPath: tools.haproxy,
    temporalPath: tools.temporal,
    taskQueue: 'gantry-chaos',
    artifactServer: true,
    workerEnv: { DEAD_WEBHOOK: `http://127.0.0.1:${deadPort}/hook` },
    environment: {
      notifications: { timeout: '1s', attempts: 2, channels: [{ type: 'webhook', url: { fromEnv: 'DEAD_WEBHOOK' } }] },
    },
  });
  // Every trial starts from a live fleet.
  const connection = await Connection.connect({ address: stack.temporalAddress });
  try {
    const client = new Client({ connection, namespace: 'default' , dataConverter: clientDataConverter() });
    const first = await awaitOutcome(await startDeployment(client, stack.name, 'v1', { sha256: stack.repo.releases.v1!.sha256, requestedBy: 'chaos', taskQueue: stack.taskQueue }));
    if (first.status !== 'live') throw new Error(`the first deployment ended ${first.status}: ${first.error}`);
  } finally {
    await connection.close();
  }
  return {
    ...stack,
    async close() {
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
