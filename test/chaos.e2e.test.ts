// A fixed set of chaos trials, one of each fault, fixed seed: the outcome is right, the fleet
// invariant holds, each app started once for the new release, and no request failed through HAProxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { printTable } from '../scripts/chaos';
import { FAULTS } from '../scripts/chaos/faults';
import { seededRandom } from '../scripts/chaos/random';
import { startChaosStack, type ChaosStack } from '../scripts/chaos/stack';
import { runTrial, type TrialResult } from '../scripts/chaos/trial';

let stack: ChaosStack;
const random = seededRandom(42);
const results: TrialResult[] = [];
let current = 'v1';

describe('chaos: one trial of each fault', () => {
  beforeAll(async () => {
    stack = await startChaosStack();
  });
  afterAll(async () => {
    printTable(results, (line) => console.log(line));
    await stack?.close();
  });

  it.each(FAULTS.map((fault, i) => [i + 1, fault] as const))('trial %i: %s', async (trial, fault) => {
    const to = current === 'v1' ? 'v2' : 'v1';
    const result = await runTrial(stack, trial, fault, current, to, random);
    results.push(result);
    if (result.outcome === 'live') current = to;
    expect(result.problems).toEqual([]);
    // A node gone for good cannot go live: the run ends failed, names it, and the rest go back (then a repair).
    expect(result.outcome).toBe(fault === 'node-gone' ? 'failed' : 'live');
    expect(result.during.sent).toBeGreaterThan(50);
  }, 300_000);
});
