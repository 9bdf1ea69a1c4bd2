// The invariant every end-to-end test checks at every terminal state (lib/local/fleet-check.ts).
import { expect } from 'vitest';
import type { Environment } from '../../lib/config/environment-schema';
import { fleetProblems, servedReleases } from '../../devkit/local/fleet-check';

export { servedReleases };

export async function expectInvariant(env: Environment, claimed: { id: string; release: string | null; lb?: string }[]): Promise<void> {
  expect(await fleetProblems(env, claimed)).toEqual([]);
}
