// Read-only or preparatory steps on every node (preflight probe, staging the artifact, checking a
// release is kept). Up to `shape.groupSize` nodes run in the calling workflow; a larger fleet is split
// into child workflows of that many nodes each, so no history holds more than a group's activities.
import { ApplicationFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import type { Environment, NodeConfig } from '../../lib/config/environment-schema';
import { failureTypes } from '../../lib/core/failure-types';
import { slices, type DeploymentShape } from '../../lib/rollout/batches';
import { inLanes } from '../../lib/rollout/lanes';
import { fleetTaskQueue, groupWorkflowId } from '../api';
import { describeFailure } from '../common/failures';
import { AGENT_GLANCE_SECONDS, agentDownload, agentGlance, agentProbe, control } from '../common/proxies';
import type { GroupInput, GroupOp, NodeFact } from './types';

async function onNode(env: Environment, node: NodeConfig, op: GroupOp): Promise<NodeFact> {
  switch (op.op) {
    case 'observe':
    case 'inspect': {
      let fact: NodeFact;
      try {
        const { release: current, running } = await agentGlance(env.name, node.id).currentRelease();
        fact = { id: node.id, reachable: true, release: running, ...(current !== running ? { current } : {}) };
      } catch (err) {
        return { id: node.id, reachable: false, error: `its agent did not answer within ${AGENT_GLANCE_SECONDS} s (${describeFailure(err)})` };
      }
      if (op.op === 'observe' || fact.release === null || fact.release === undefined) return fact;
      const release = fact.release;
      const healthy = await control.waitHealthy({ address: node.address, check: env.healthCheck, release, successThreshold: 1, deadlineMs: 3_000 }).then(
        () => true,
        () => false,
      );
      return { ...fact, healthy };
    }
    case 'probe': {
      const { release } = await agentProbe(env.name, node.id)
        .currentRelease()
        .catch((err: unknown) => {
          throw ApplicationFailure.nonRetryable(`agent of node ${node.id} did not answer: ${describeFailure(err)}`, failureTypes.agentUnavailable);
        });
      // A fresh node has nothing to check yet.
      if (release !== null) {
        await control.waitHealthy({ address: node.address, check: env.healthCheck, release, successThreshold: 1, deadlineMs: 15_000 });
      }
      return { id: node.id, release };
    }
    case 'stage':
      await agentDownload(env.name, node.id).stage({ release: op.release, ...op.artifact, unreachableTimeoutMs: env.artifact.unreachableTimeout });
      return { id: node.id };
    case 'configure': {
      const { serving, ...shared } = op.facts;
      const self = shared.nodes.find((n) => n.id === node.id) ?? { id: node.id, address: node.address, server: node.server ?? node.id };
      const peers = shared.nodes.filter((n) => n.id !== node.id && serving.includes(n.id));
      const config = await agentProbe(env.name, node.id).renderConfig({ release: op.release, templates: op.templates, facts: { ...shared, node: self, peers }, secretServices: op.secretServices });
      return { id: node.id, config };
    }
    case 'kept':
      return { id: node.id, kept: await agentProbe(env.name, node.id).isStaged({ release: op.release }) };
    case 'survey': {
      let release: string | null;
      try {
        ({ release } = await agentGlance(env.name, node.id).currentRelease());
      } catch (err) {
        return { id: node.id, reachable: false, error: `its agent did not answer within ${AGENT_GLANCE_SECONDS} s (${describeFailure(err)})` };
      }
      // Unhealthy is why a fleet is rolled back, not a reason to refuse: recorded, nothing more.
      const healthy =
        release === null ||
        (await control.waitHealthy({ address: node.address, check: env.healthCheck, release, successThreshold: 1, deadlineMs: 3_000 }).then(
          () => true,
          () => false,
        ));
      return { id: node.id, release, reachable: true, healthy };
    }
  }
}

/** The group as a workflow of its own. */
export async function nodeGroup({ environment, op }: GroupInput): Promise<NodeFact[]> {
  return Promise.all(environment.nodes.map((node) => onNode(environment, node, op)));
}

/** `op` on every node of `env`, in this workflow or fanned out to group children; facts in node order. */
export async function acrossFleet(env: Environment, op: GroupOp, shape: DeploymentShape): Promise<NodeFact[]> {
  if (env.nodes.length <= shape.groupSize) return nodeGroup({ environment: env, op });
  // At most groupsAtOnce groups run together: a few hundred nodes asked at once, not the whole fleet.
  const facts: NodeFact[][] = [];
  await inLanes(slices(env.nodes, shape.groupSize), shape.groupsAtOnce, async (nodes, i) => {
    facts[i] = await executeChild(nodeGroup, {
      workflowId: groupWorkflowId(env.name, op.op, i + 1),
      taskQueue: fleetTaskQueue(workflowInfo().taskQueue),
      args: [{ environment: { ...env, nodes }, op }],
    });
  });
  return facts.flat();
}
