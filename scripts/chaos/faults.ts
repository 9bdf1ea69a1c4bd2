// The faults a chaos trial injects, each at a moment picked by the trial's seeded random source.
import { rename } from 'node:fs/promises';
import type { LocalStack } from '../../devkit/local/stack';
import { sleep } from '../../lib/core/wait';
import type { DeployStatus } from '../../workflows/api';

export const FAULTS = ['kill-worker', 'kill-agent', 'restart-temporal', 'lb-socket-down', 'artifact-503', 'webhook-down'] as const;
export type Fault = (typeof FAULTS)[number];

export interface Injection {
  /** What was done, and when in the deployment, in words for the table. */
  moment: string;
  /** When the killed process was started again (for the time to resumed progress), if one was. */
  restartedAt?: number;
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

export async function inject(fault: Fault, stack: LocalStack, status: () => Promise<DeployStatus>, random: () => number): Promise<Injection> {
  const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
  switch (fault) {
    case 'kill-worker': {
      const at = await until(status, deploying);
      const node = at?.nodes.find((n) => n.state === 'deploying')?.id ?? '?';
      const wait = between(0, 1_200);
      const down = between(200, 2_000);
      await sleep(wait);
      await stack.restartWorker(down);
      return { moment: `kill -9 worker ${wait} ms into ${node}'s deploy, down ${down} ms`, restartedAt: Date.now() };
    }
    case 'kill-agent': {
      const node = stack.nodeIds[Math.floor(random() * stack.nodeIds.length)]!;
      const duringStage = random() < 0.5;
      await until(status, duringStage ? (s) => s.phase === 'stage' : (s) => s.nodes.find((n) => n.id === node)?.state === 'deploying');
      const wait = between(0, duringStage ? 100 : 600);
      const down = between(200, 1_500);
      await sleep(wait);
      await stack.restartAgent(node, down);
      return { moment: `kill -9 agent ${node} ${wait} ms into ${duringStage ? 'stage' : 'its deploy'}, down ${down} ms`, restartedAt: Date.now() };
    }
    case 'restart-temporal': {
      await until(status, deploying);
      const wait = between(0, 1_500);
      const down = between(500, 2_500);
      await sleep(wait);
      await stack.restartTemporal(down);
      return { moment: `Temporal down ${down} ms, ${wait} ms into rollout`, restartedAt: Date.now() };
    }
    case 'lb-socket-down': {
      await until(status, deploying);
      const wait = between(0, 1_000);
      const down = between(1_000, 4_000);
      await sleep(wait);
      const socket = stack.haproxy.socket;
      await rename(socket, `${socket}.away`);
      await sleep(down);
      await rename(`${socket}.away`, socket);
      return { moment: `HAProxy admin socket gone ${down} ms, ${wait} ms into rollout` };
    }
    case 'artifact-503':
      // Set before the deployment starts (see the trial); nothing more to do here.
      return { moment: 'artifact server answers 503 to about half the requests' };
    case 'webhook-down':
      return { moment: 'the notification webhook refuses connections' };
  }
}
