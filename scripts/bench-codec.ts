// `npm run bench:codec`: what payload encryption costs. (1) The codec alone: encode + decode of
// typical payloads, median µs per payload over many rounds. (2) Deploy wall time on the demo's stack
// (3 nodes, its own dev server), the same deployments with payloads in clear and encrypted.
// Options: --rounds <n> deployments per mode (default 5).
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { clientDataConverter } from '../client/data-converter';
import { awaitOutcome } from '../client/deployments';
import { EncryptionCodec } from '../client/encryption-codec';
import { startDeployment } from '../cli/commands/deploy';
import { startReaperSession } from '../devkit/local/reaper';
import { startLocalStack } from '../devkit/local/stack';
import { setup } from '../devkit/setup';
import { parseKeyring } from '../lib/codec/keyring';

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

/** Median µs of one encode + decode of `value`'s payload, over `rounds` rounds of `batch` payloads. */
async function codecCost(codec: EncryptionCodec, value: unknown, rounds = 400, batch = 50): Promise<{ bytes: number; us: number }> {
  const payload = defaultPayloadConverter.toPayload(value);
  const payloads = Array.from({ length: batch }, () => payload);
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    await codec.decode(await codec.encode(payloads));
    samples.push(Number(process.hrtime.bigint() - t0) / 1_000 / batch);
  }
  return { bytes: payload.data!.length, us: median(samples.slice(rounds / 10)) }; // the first tenth warms up
}

async function deployWall(mode: 'clear' | 'encrypted', rounds: number): Promise<number[]> {
  const tools = setup(() => undefined);
  const dir = await mkdtemp(path.join(os.tmpdir(), `gantry-bench-codec-${mode}-`));
  delete process.env.GANTRY_CODEC_KEYS;
  const releases = ['v1', 'v2'];
  const stack = await startLocalStack({ dir, name: 'bench', nodeCount: 3, releases, haproxyPath: tools.haproxy, temporalPath: tools.temporal, taskQueue: 'gantry-bench', plainPayloads: mode === 'clear' });
  const connection = await Connection.connect({ address: stack.temporalAddress });
  try {
    const client = new Client({ connection, namespace: 'default', dataConverter: clientDataConverter() });
    const walls: number[] = [];
    // One warm-up deployment, then `rounds` measured ones alternating v2 and v1.
    for (let i = 0; i <= rounds; i++) {
      const release = releases[i % 2]!;
      const t0 = Date.now();
      const handle = await startDeployment(client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'bench', taskQueue: stack.taskQueue });
      const outcome = await awaitOutcome(handle);
      if (outcome.status !== 'live') throw new Error(`${mode}: deployment of ${release} ended ${outcome.status}: ${outcome.error}`);
      if (i > 0) walls.push(Date.now() - t0);
    }
    return walls;
  } finally {
    await connection.close();
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main() {
  const options = new Command('bench:codec').option('--rounds <n>', 'deployments per mode', '5').parse().opts<{ rounds: string }>();
  startReaperSession();
  const codec = new EncryptionCodec(parseKeyring('bench=env:BENCH_KEY', { BENCH_KEY: randomBytes(32).toString('base64') }));
  const small = { environment: 'prod', release: 'v1.4.2', requestedBy: 'alice', artifactSha256: 'a'.repeat(64) };
  const status = { phase: 'rollout', nodes: Array.from({ length: 20 }, (_, i) => ({ id: `web-${i + 1}`, state: 'live', release: 'v1.4.2', lb: 'ready', health: 'ok' })), events: Array.from({ length: 30 }, (_, i) => ({ at: Date.now(), what: `step ${i} on web-${i % 20}` })) };
  const large = { blob: randomBytes(96 * 1024).toString('base64') };
  const rows = [];
  for (const [name, value] of [['request', small], ['status of 20 nodes', status], ['128 KiB', large]] as const) rows.push({ name, ...(await codecCost(codec, value, name === '128 KiB' ? 100 : 400, name === '128 KiB' ? 5 : 50)) });

  const rounds = Number(options.rounds);
  const clear = await deployWall('clear', rounds);
  const encrypted = await deployWall('encrypted', rounds);
  const fmt = (ms: number) => (ms / 1000).toFixed(2);
  console.log('## Payload codec (AES-256-GCM)\n');
  console.log('| payload | bytes | encode + decode µs (median) |\n| --- | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.name} | ${r.bytes.toLocaleString('en')} | ${r.us.toFixed(1)} |`);
  console.log(`\n| demo stack, 3 nodes, ${rounds} deployments each | median s | min s | max s |\n| --- | ---: | ---: | ---: |`);
  for (const [name, walls] of [['payloads in clear', clear], ['payloads encrypted', encrypted]] as const) {
    console.log(`| ${name} | ${fmt(median(walls))} | ${fmt(Math.min(...walls))} | ${fmt(Math.max(...walls))} |`);
  }
  console.log(`\nencrypted − clear, median: ${(median(encrypted) - median(clear)).toFixed(0)} ms per deployment`);
}

main().catch((err: unknown) => {
  console.error('bench:codec:', err);
  process.exit(1);
});
