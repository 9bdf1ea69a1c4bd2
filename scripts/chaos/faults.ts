// The faults a chaos trial injects, each at a moment picked by the trial's seeded random source.
import { rename } from 'node:fs/promises';
import type { ChaosStack } from './stack';
import { sleep, waitUntil } from '../../lib/core/wait';
import { HaproxyClient } from '../../lib/lb/haproxy';
import type { DeployStatus } from '../../workflows/api';

export const FAULTS = ['kill-worker', 'kill-agent', 'restart-temporal', 'lb-socket-down', 'artifact-503', 'webhook-down', 'node-gone'] as const;
export type Fault = (typeof FAULTS)[number];

export interface Injection {
  /** What was done, and when in the deployment, in words for the table. */
  moment: string;
  /** The fault hit a deployment still under way (not one that had already ended): a trial that missed proves nothing. */
  landed: boolean;
  /** When the killed process was started again (for the time to resumed progress), if one was. */
  restartedAt?: number;
  /** node-gone: the node that disappeared for good (its agent and app killed, not restarted). */
  gone?: string;
}

/** Waits until the deployment's status satisfies `ok` (status reads may fail while Temporal is down). */
export async function until(status: () => Promise<DeployStatus>, ok: (s: DeployStatus) => boolean, timeoutMs = 60_000): Promise<DeployStatus | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const s = await status().catch(() => undefined);
    if (s && ok(s)) return s;
    if (s && ['live', 'failed', 'rolled-back', 'aborted'].includes(s.phase)) return undefined;
    await sleep(25);
  }
  return undefined;
}

const deploying = (s: DeployStatus) => s.nodes.some((n) => n.state === 'deploying');
const TERMINAL = ['live', 'failed', 'rolled-back', 'aborted'];

/** Right before the fault: the deployment has not ended (a status that cannot be read counts as under way: Temporal may be the fault). */
async function underWay(status: () => Promise<DeployStatus>): Promise<boolean> {
  const s = await status().catch(() => undefined);
  return s === undefined || !TERMINAL.includes(s.phase);
}

export async function inject(fault: Fault, stack: ChaosStack, status: () => Promise<DeployStatus>, random: () => number): Promise<Injection> {
  const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
  switch (fault) {
    case 'kill-worker': {
      const at = await until(status, deploying);
      const node = at?.nodes.find((n) => n.state === 'deploying')?.id ?? '?';
      const wait = between(0, 1_200);
      const down = between(200, 2_000);
      await sleep(wait);
      const landed = at !== undefined && (await underWay(status));
      await stack.restartWorker(down);
      return { moment: `kill -9 worker ${wait} ms into ${node}'s deploy, down ${down} ms`, landed, restartedAt: Date.now() };
    }
    case 'kill-agent': {
      const node = stack.nodeIds[Math.floor(random() * stack.nodeIds.length)]!;
      const duringStage = random() < 0.5;
      const at = await until(status, duringStage ? (s) => s.phase === 'stage' : (s) => s.nodes.find((n) => n.id === node)?.state === 'deploying');
      const wait = between(0, duringStage ? 100 : 600);
      const down = between(200, 1_500);
      await sleep(wait);
      const landed = at !== undefined && (await underWay(status));
      await stack.restartAgent(node, down);
      return { moment: `kill -9 agent ${node} ${wait} ms into ${duringStage ? 'stage' : 'its deploy'}, down ${down} ms`, landed, restartedAt: Date.now() };
    }
    case 'restart-temporal': {
      const at = await until(status, deploying);
      const wait = between(0, 1_500);
      const down = between(500, 2_500);
      await sleep(wait);
      const landed = at !== undefined && (await underWay(status));
      await stack.restartTemporal(down);
      return { moment: `Temporal killed (SIGKILL), down ${down} ms, ${wait} ms into rollout`, landed, restartedAt: Date.now() };
    }
    case 'lb-socket-down': {
      const at = await until(status, deploying);
      const wait = between(0, 1_000);
      const down = between(1_000, 4_000);
      await sleep(wait);
      const landed = at !== undefined && (await underWay(status));
      const socket = stack.haproxy.socket;
      await rename(socket, `${socket}.away`);
      await sleep(down);
      await rename(`${socket}.away`, socket);
      return { moment: `HAProxy admin socket gone ${down} ms, ${wait} ms into rollout`, landed };
    }
    case 'artifact-503':
      // Set before the deployment starts (see the trial) and kept until it ends: it lands on every download.
      return { moment: 'artifact server answers 503 to about half the requests', landed: true };
    case 'node-gone': {
      // Out of rotation already (its own cycle drained it), so no request is lost: only the deployment must cope.
      const node = stack.nodeIds[Math.floor(random() * stack.nodeIds.length)]!;
      const at = await until(status, (s) => s.nodes.find((n) => n.id === node)?.state === 'deploying');
      const lb = new HaproxyClient(stack.haproxy.socket);
      const out = at !== undefined && (await waitUntil(async () => (await lb.serverStat(stack.haproxy.backend, node).catch(() => undefined))?.status.startsWith('MAINT') === true, 30_000, 20));
      const landed = out && (await underWay(status));
      await stack.killNode(node);
      return { moment: `node ${node} gone for good (agent and app killed) during its deploy`, landed, gone: node };
    }
    case 'webhook-down': {
      // The receiver got the earlier notices; it dies mid-rollout and refuses the rest (the trial brings it back).
      const at = await until(status, deploying);
      const wait = between(0, 800);
      await sleep(wait);
      const landed = at !== undefined && (await underWay(status));
      await stack.receiver.down();
      return { moment: `notification receiver killed ${wait} ms into rollout (connections refused)`, landed };
    }
  }
}
