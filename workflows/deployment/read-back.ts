// The result says what is, not what was meant: at the end, every node's release is read from its
// agent (the release of the app that runs) and its load-balancer state from HAProxy. Where HAProxy
// disagrees with the intended state (a reload dropped its runtime state, an operator toggled a server
// mid-run) the intended state is applied again and the event log says so; a node whose agent runs
// another release than intended keeps that truth in the result, with an error naming the difference.
import { patched } from '@temporalio/workflow';
import { serverName } from '../../lib/config/environment-rules';
import { describeFailure } from '../common/failures';
import { control } from '../common/proxies';
import { acrossFleet } from '../fleet/node-group';
import type { Environment } from '../../lib/config/environment-schema';
import { blueGreenOf, POOLS, poolEnvironment } from './blue-green';
import type { DeploymentState, WorkflowInput } from './state';

/** Marks runs whose result is read back from the agents and HAProxy. */
const TRUTHFUL_RESULTS = 'truthful-results';

export async function readBack(input: WorkflowInput, state: DeploymentState): Promise<void> {
  if (!patched(TRUTHFUL_RESULTS)) return;
  // Blue-green: each pool's servers are in that pool's backend.
  if (blueGreenOf(input.environment)) {
    for (const pool of POOLS) await readBackFrom(poolEnvironment(input.environment, pool), input, state);
  } else await readBackFrom(input.environment, input, state);
}

async function readBackFrom(env: Environment, input: WorkflowInput, state: DeploymentState): Promise<void> {
  // Nodes a rollback on a sick fleet could not reach are already reported as such.
  const nodes = env.nodes.filter((n) => !state.unreachable.includes(n.id));
  if (nodes.length === 0) return;
  let lbStates: Record<string, string>;
  let facts;
  try {
    [lbStates, facts] = await Promise.all([
      control.serverStates({ lb: env.loadBalancer, servers: nodes.map(serverName) }),
      acrossFleet({ ...env, nodes }, { op: 'observe' }, input.shape),
    ]);
  } catch (err) {
    state.record(`could not read the fleet back (${describeFailure(err)}): the result shows what the deployment did, not what was read`);
    return;
  }
  for (const [i, node] of nodes.entries()) {
    const fact = facts[i]!;
    const server = serverName(node);
    const intended = state.node(node.id);
    // Intended: what the node's cycle left (or, untouched, what preflight found). A failed node is reported as read, never put back in rotation.
    const wanted = intended.lb;
    const settled = intended.state === 'live' || intended.state === 'rolled-back' || intended.state === 'pending';
    let lb = lbStates[server] ?? 'missing';
    if (settled && (wanted === 'ready' || wanted === 'maint') && lb !== wanted && lb !== 'missing' && lb !== 'down' && fact.reachable && fact.release === intended.release) {
      try {
        if (wanted === 'ready') await control.enable({ lb: env.loadBalancer, server });
        else await control.holdOut({ lb: env.loadBalancer, server });
        state.record(`${node.id}: HAProxy had it ${lb}, not ${wanted} (a reload lost its runtime state, or a hand changed it): set ${wanted} again`);
        lb = wanted;
      } catch (err) {
        state.record(`${node.id}: HAProxy has it ${lb}, not ${wanted}, and setting it failed: ${describeFailure(err)}`);
      }
    }
    state.observed(node.id, { lb, ...(fact.reachable ? { release: fact.release ?? null } : { unreachable: fact.error ?? 'its agent did not answer' }) });
  }
}
