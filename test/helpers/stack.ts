// Per-file local stack on the shared Temporal server, with a unique environment and task queue.
import { Client, Connection } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { parse, stringify } from 'yaml';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../devkit/local/stack';

export interface TestStack extends LocalStack {
  client: Client;
  dir: string;
  /** Writes a copy of the environment file with `patch` merged in (same name, nodes and load balancer). */
  variant(name: string, patch: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
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
    client: new Client({ connection, namespace: 'default' }),
    async variant(name, patch) {
      const file = path.join(dir, `${name}.yaml`);
      const base = parse(await readFile(stack.envFile, 'utf8')) as Record<string, unknown>;
      await writeFile(file, stringify({ ...base, ...patch }));
      return file;
    },
    async close() {
      await connection.close();
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
