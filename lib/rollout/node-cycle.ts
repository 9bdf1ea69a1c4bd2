// One node's cycle, the only place it is written: drain → (a hook) → activate → health → enable; with
// no release, drain → deactivate and the node stays out of rotation. Rolling batches, downtime mode,
// compensation and the benchmark's plain loop all run it; each supplies the steps (activities in a
// workflow, direct calls in the plain loop). Plain code without I/O, so workflows may import it.

export type NodeStep = 'drain' | 'deactivate' | 'activate' | 'waitHealthy' | 'enable';

export interface NodeCycleSteps {
  /** `drainAt`: when the server stopped taking new requests. */
  drain(): Promise<{ drainAt: number }>;
  activate(release: string): Promise<unknown>;
  waitHealthy(release: string): Promise<{ attempts: number }>;
  /** `readyAt`: when the server was back in rotation. */
  enable(): Promise<{ readyAt: number }>;
  deactivate(): Promise<unknown>;
}

export interface NodeCycleResult {
  release: string | null;
  lb: 'ready' | 'maint';
  healthAttempts: number;
  drainAt: number;
  readyAt: number | null;
}

export interface NodeCycleOptions {
  /** Told each step as it starts, so a failure can name it. */
  at?: (step: NodeStep) => void;
  /** Runs once the node is out of rotation, before the release changes (downtime mode's migration gate). */
  afterDrain?: () => Promise<void>;
}

export async function nodeCycle(steps: NodeCycleSteps, release: string | null, { at = () => {}, afterDrain }: NodeCycleOptions = {}): Promise<NodeCycleResult> {
  at('drain');
  const { drainAt } = await steps.drain();
  if (afterDrain) await afterDrain();
  if (release === null) {
    at('deactivate');
    await steps.deactivate();
    return { release: null, lb: 'maint', healthAttempts: 0, drainAt, readyAt: null };
  }
  at('activate');
  await steps.activate(release);
  at('waitHealthy');
  const { attempts } = await steps.waitHealthy(release);
  at('enable');
  const { readyAt } = await steps.enable();
  return { release, lb: 'ready', healthAttempts: attempts, drainAt, readyAt };
}
