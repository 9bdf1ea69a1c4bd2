// The stack chaos trials run on: its own Temporal dev server (a trial kills it), artifacts over HTTP
// (a trial makes them fail), and a notification receiver that answers every notice (a trial kills it
// mid-rollout and it comes back on the same port after).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { awaitOutcome } from '../../client/deployments';
import { startDeployment } from '../../cli/commands/deploy';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../../devkit/local/ports';
import { startLocalStack, type LocalStack } from '../../devkit/local/stack';
import { setup } from '../../devkit/setup';
import { clientDataConverter } from '../../client/data-converter';

/** The notification receiver: counts what it got; `down()` kills it (connections refused), `up()` brings it back on its port. */
export interface Receiver {
  received: number;
  down(): Promise<void>;
  up(): Promise<void>;
}

async function startReceiver(port: number): Promise<Receiver> {
  let server: Server | undefined;
  const receiver: Receiver = {
    received: 0,
    async up() {
      if (server) return;
      const next = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          receiver.received += 1;
          res.writeHead(200).end('ok');
        });
      });
      await new Promise<void>((resolve) => next.listen(port, '127.0.0.1', resolve));
      server = next;
    },
    async down() {
      const closing = server;
      server = undefined;
      if (!closing) return;
      closing.closeAllConnections();
      await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
  };
  await receiver.up();
  return receiver;
}

export type ChaosStack = LocalStack & { receiver: Receiver; close(): Promise<void> };

export async function startChaosStack(log: (line: string) => void = () => {}): Promise<ChaosStack> {
  const tools = setup(log);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-chaos-'));
  const receiverPort = await freePort();
  const receiver = await startReceiver(receiverPort);
  const stack = await startLocalStack({
    dir,
    name: 'chaos',
    nodeCount: 3,
    releases: ['v1', 'v2'],
    haproxyPath: tools.haproxy,
    temporalPath: tools.temporal,
    taskQueue: 'gantry-chaos',
    artifactServer: true,
    workerEnv: { NOTIFY_WEBHOOK: `http://127.0.0.1:${receiverPort}/hook` },
    environment: {
      notifications: { timeout: '1s', attempts: 2, channels: [{ type: 'webhook', url: { fromEnv: 'NOTIFY_WEBHOOK' } }] },
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
    receiver,
    async close() {
      await receiver.down();
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
