// One node's cycle, the only place it is written: drain → (a hook) → activate → health → enable; with
// no release, drain → deactivate and the node stays out of rotation. Rolling batches, downtime mode,
// compensation and the benchmark's plain loop all run it; each supplies the steps (activities in a
// workflow, direct calls in the plain loop). Plain code without I/O, so workflows may import it.

export type NodeStep = 'drain' | 'deactivate' | 'activate' | 'waitHealthy' | 'enable';

export interface NodeCycleSteps {
  /** `drainAt`: when the server stopped taking new requests; `already`: it was out of rotation (MAINT) before. */
  drain(): Promise<{ drainAt: number; already?: boolean }>;
  /** The drain again, right before the switch (recheckOut); `drain` when a caller has no separate step. */
  recheck?(): Promise<{ drainAt: number; already?: boolean }>;
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
  /** What the cycle noticed on the way (the load balancer put the server back in rotation behind its back). */
  notes: string[];
}

export interface NodeCycleOptions {
  /** Told each step as it starts, so a failure can name it. */
  at?: (step: NodeStep) => void;
  /** Runs once the node is out of rotation, before the release changes (downtime mode's migration gate). */
  afterDrain?: () => Promise<void>;
  /**
   * Drain once more right before the release changes: if the load balancer lost its runtime state
   * (an HAProxy reload) and put the server back in rotation, it is taken out again, not switched under traffic.
   */
  recheckOut?: boolean;
  /** An operator had the server in MAINT before the deployment: it gets the release and stays out of rotation. */
  leaveInMaint?: boolean;
}

export async function nodeCycle(
  steps: NodeCycleSteps,
  release: string | null,
  { at = () => {}, afterDrain, recheckOut = false, leaveInMaint = false }: NodeCycleOptions = {},
): Promise<NodeCycleResult> {
  const notes: string[] = [];
  at('drain');
  const { drainAt } = await steps.drain();
  if (afterDrain) await afterDrain();
  if (recheckOut) {
    const again = await (steps.recheck ?? steps.drain)();
    if (again.already === false) notes.push('the load balancer had put the server back in rotation (runtime state lost, an HAProxy reload?): drained it again before the switch');
  }
  if (release === null) {
    at('deactivate');
    await steps.deactivate();
    return { release: null, lb: 'maint', healthAttempts: 0, drainAt, readyAt: null, notes };
  }
  at('activate');
  await steps.activate(release);
  at('waitHealthy');
  const { attempts } = await steps.waitHealthy(release);
  if (leaveInMaint) {
    notes.push('left in MAINT, where an operator had put it before the deployment');
    return { release, lb: 'maint', healthAttempts: attempts, drainAt, readyAt: null, notes };
  }
  at('enable');
  const { readyAt } = await steps.enable();
  return { release, lb: 'ready', healthAttempts: attempts, drainAt, readyAt, notes };
}
