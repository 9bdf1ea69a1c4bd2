// `gantry repair`'s look at a fleet, changing nothing: for every node of the orchestrator's definition,
// what its agent runs (and what `current` names), whether it is healthy on it, and its server's state
// in HAProxy. A short workflow, so the CLI needs no access to the orchestrator, HAProxy or the nodes.
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { serverName } from '../../lib/config/environment-rules';
import { SHAPE_V1 } from '../../lib/rollout/batches';
import type { FleetSurvey } from '../api';
import { control, definitions } from '../common/proxies';
import { acrossFleet } from '../fleet/node-group';

export async function fleetSurvey({ environment }: { environment: string }): Promise<FleetSurvey> {
  const { environment: env, sha256 } = await definitions.loadEnvironment({ name: environment }).catch((err: unknown) => {
    const inner = err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
    throw inner ? ApplicationFailure.nonRetryable(inner.message, inner.type) : err;
  });
  const [lb, facts] = await Promise.all([
    control.serverStates({ lb: env.loadBalancer, servers: env.nodes.map(serverName) }),
    acrossFleet(env, { op: 'inspect' }, SHAPE_V1),
  ]);
  return {
    environment: env.name,
    definitionSha256: sha256,
    nodes: env.nodes.map((node, i) => {
      const fact = facts[i]!;
      return {
        id: node.id,
        lb: lb[serverName(node)] ?? 'missing',
        reachable: fact.reachable === true,
        release: fact.release ?? null,
        ...(fact.current !== undefined ? { current: fact.current } : {}),
        healthy: fact.healthy === true,
        ...(fact.error ? { error: fact.error } : {}),
      };
    }),
  };
}
