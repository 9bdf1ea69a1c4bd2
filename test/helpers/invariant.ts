// The invariant every end-to-end test checks at every terminal state: each node is enabled in
// HAProxy, answers its health check, and serves exactly the release the workflow claims.
import { expect } from 'vitest';
import type { Environment } from '../../lib/environment-schema';
import { serverName } from '../../lib/environment-schema';
import { HaproxyClient } from '../../lib/haproxy';
import { waitUntil } from '../../lib/wait';
import type { TestStack } from './stack';

export async function lbStates(stack: TestStack): Promise<Record<string, string>> {
  const stats = await new HaproxyClient(stack.haproxy.socket).showStat();
  // "UP 1/2" right after leaving maint: HAProxy's own checks have not run yet; the state word counts.
  return Object.fromEntries(stats.filter((s) => s.backend === stack.haproxy.backend).map((s) => [s.server, s.status.split(' ')[0] ?? '']));
}

/** What each node's app says when asked directly (not through HAProxy). */
export async function servedReleases(env: Environment): Promise<Record<string, string>> {
  const entries = await Promise.all(
    env.nodes.map(async (n) => [n.id, ((await (await fetch(`http://${n.address}/`)).json()) as { release: string }).release] as const),
  );
  return Object.fromEntries(entries);
}

export async function expectInvariant(stack: TestStack, env: Environment, claimed: { id: string; release: string | null; lb?: string }[]): Promise<void> {
  // HAProxy's own check (every 1 s, rise 1) may still hold a server DOWN that failed it while the
  // schema was broken; it must come back within one check interval and a little.
  let lb = await lbStates(stack);
  await waitUntil(async () => Object.values((lb = await lbStates(stack))).every((s) => s === 'UP'), 2_500, 100);
  const served = await servedReleases(env);
  for (const node of env.nodes) {
    const claim = claimed.find((c) => c.id === node.id);
    expect(claim, `the result reports node ${node.id}`).toBeDefined();
    expect(lb[serverName(node)], `${node.id} enabled in HAProxy`).toBe('UP');
    const health = await fetch(`http://${node.address}${env.healthCheck.path}`);
    expect(health.status, `${node.id} answers its health check`).toBe(env.healthCheck.expectStatus);
    expect(served[node.id], `${node.id} serves the release the result claims`).toBe(claim!.release);
    if (claim!.lb !== undefined) expect(claim!.lb).toBe('ready');
  }
}
