// Downtime mode, for migrations old releases cannot run on: every node runs the node cycle at once,
// held after its drain until all are out of rotation (the load balancer then answers with its
// maintenance page) and the migration ran; then each activates, passes its health check and comes
// back. The downtime is measured from the load balancer's side.
import { ApplicationFailure, condition } from '@temporalio/workflow';
import { failureTypes } from '../../lib/core/failure-types';
import { nodeCycle, type NodeCycleResult } from '../../lib/rollout/node-cycle';
import { nodeCycleSteps } from '../common/node-steps';
import { healthPolls, lbWaits } from '../common/proxies';
import { backupAndExpand } from './migrations';
import type { DeploymentState, WorkflowInput } from './state';

export async function downtimeRollout(input: WorkflowInput, state: DeploymentState): Promise<void> {
  const env = input.environment;
  const lbOps = lbWaits(env.loadBalancer);
  const proxies = { drains: lbOps, lbOps, health: healthPolls(env.healthCheck) };
  const activateTimeoutMs = env.app.stopGrace + env.app.startTimeout;

  state.enter('migrate');
  state.nodesStarting(env.nodes.map((n) => n.id));
  let drained = 0;
  let failed = false;
  let openGate!: (go: boolean) => void;
  const gate = new Promise<boolean>((resolve) => (openGate = resolve));
  const held = ApplicationFailure.nonRetryable('held after its drain: the migration did not run', failureTypes.nodeFailed);
  const cycles = env.nodes.map((node) => {
    const steps = nodeCycleSteps({ environment: env.name, node, loadBalancer: env.loadBalancer, healthCheck: env.healthCheck, activateTimeoutMs }, proxies);
    const afterDrain = async () => {
      drained++;
      if (!(await gate)) throw held;
    };
    return nodeCycle(steps, input.release, { afterDrain }).catch((err: unknown) => {
      failed = true;
      throw err;
    });
  });
  const settled = Promise.allSettled(cycles);

  await condition(() => drained === env.nodes.length || failed);
  let migrationFailure: unknown;
  if (!failed) {
    state.record('downtime: every node is out of rotation; the maintenance page answers');
    await backupAndExpand(input, state).catch((err: unknown) => (migrationFailure = err));
  }
  openGate(!failed && migrationFailure === undefined);
  const results = await settled;
  if (migrationFailure !== undefined) throw migrationFailure as Error;
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && r.reason !== held);
  if (failure) throw failure.reason as Error;
  const done = results.map((r) => (r as PromiseFulfilledResult<NodeCycleResult>).value);
  // A draining server takes no new requests: the site is down from the last drain to the first node back.
  state.downtimeMeasured(Math.min(...done.map((d) => d.readyAt!)) - Math.max(...done.map((d) => d.drainAt)));
  for (const [i, node] of env.nodes.entries()) state.nodeLive(node.id, done[i]!.release, done[i]!.lb);
  state.record(`downtime over after ${state.migration.downtimeMs} ms; every node is live on ${input.release}`);
}
