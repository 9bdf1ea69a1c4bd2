// The invariant at every terminal state, as a list of problems (empty when it holds): each node is
// enabled in HAProxy, answers its health check, and serves exactly the release the result claims.
import type { Environment } from '../../lib/config/environment-schema';
import { serverName } from '../../lib/config/environment-schema';
import { HaproxyClient } from '../../lib/lb/haproxy';
import { waitUntil } from '../../lib/core/wait';

export async function lbStates(socket: string, backend: string): Promise<Record<string, string>> {
  const stats = await new HaproxyClient(socket).showStat();
  // "UP 1/2" right after leaving maint: HAProxy's own checks have not run yet; the state word counts.
  return Object.fromEntries(stats.filter((s) => s.backend === backend).map((s) => [s.server, s.status.split(' ')[0] ?? '']));
}

/** What each node's app says when asked directly (not through HAProxy). */
export async function servedReleases(env: Environment): Promise<Record<string, string>> {
  const entries = await Promise.all(
    env.nodes.map(async (n) => [n.id, ((await (await fetch(`http://${n.address}/`)).json()) as { release: string }).release] as const),
  );
  return Object.fromEntries(entries);
}

export async function fleetProblems(env: Environment, claimed: { id: string; release: string | null; lb?: string }[]): Promise<string[]> {
  const { socket, backend } = env.loadBalancer;
  // HAProxy's own check (every 1 s, rise 1) may still hold DOWN a server that failed it a moment ago.
  let lb = await lbStates(socket, backend);
  await waitUntil(async () => Object.values((lb = await lbStates(socket, backend))).every((s) => s === 'UP'), 2_500, 100);
  const served = await servedReleases(env).catch((err: Error): Record<string, string> => ({ error: err.message }));
  const problems: string[] = [];
  for (const node of env.nodes) {
    const claim = claimed.find((c) => c.id === node.id);
    if (!claim) {
      problems.push(`${node.id}: not in the result`);
      continue;
    }
    if (lb[serverName(node)] !== 'UP') problems.push(`${node.id}: HAProxy says ${lb[serverName(node)] ?? 'nothing'}, not UP`);
    const health = await fetch(`http://${node.address}${env.healthCheck.path}`).then((r) => r.status, () => 0);
    if (health !== env.healthCheck.expectStatus) problems.push(`${node.id}: health check answered ${health}`);
    if (served[node.id] !== claim.release) problems.push(`${node.id}: serves ${served[node.id] ?? 'nothing'}, the result says ${claim.release}`);
    if (claim.lb !== undefined && claim.lb !== 'ready') problems.push(`${node.id}: the result says lb ${claim.lb}`);
  }
  return problems;
}
