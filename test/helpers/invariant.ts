// The invariant every end-to-end test checks at every terminal state (lib/local/fleet-check.ts).
import { expect } from 'vitest';
import type { Environment } from '../../lib/environment-schema';
import { fleetProblems, lbStates as lbStatesOf, servedReleases } from '../../lib/local/fleet-check';
import type { TestStack } from './stack';

export { servedReleases };

export const lbStates = (stack: TestStack) => lbStatesOf(stack.haproxy.socket, stack.haproxy.backend);

export async function expectInvariant(_stack: TestStack, env: Environment, claimed: { id: string; release: string | null; lb?: string }[]): Promise<void> {
  expect(await fleetProblems(env, claimed)).toEqual([]);
}
