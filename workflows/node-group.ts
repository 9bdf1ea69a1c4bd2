// Read-only or preparatory steps on every node (preflight probe, staging the artifact, checking a
// release is kept). Up to GROUP_SIZE nodes run in the calling workflow; a larger fleet is split into
// child workflows of GROUP_SIZE nodes each, so no history holds more than a group's activities.
import { ApplicationFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import type { Environment, NodeConfig } from '../lib/environment-schema';
import { fleetTaskQueue, groupWorkflowId, type ArtifactRef } from './api';
import { describeFailure } from './failures';
import { inLanes } from './lanes';
import { agentDownload, agentProbe, control } from './proxies';

const GROUP_SIZE = 25;
const GROUPS_AT_ONCE = 8;

export type GroupOp =
  /** The node's current release, and that it is healthy on it. */
  | { op: 'probe' }
  | { op: 'stage'; release: string; artifact: ArtifactRef }
  /** Whether the node still keeps `release` (a rollback downloads nothing). */
  | { op: 'kept'; release: string };

export interface GroupInput {
  /** The environment with only this group's nodes. */
  environment: Environment;
  op: GroupOp;
}

export interface NodeFact {
  id: string;
  release?: string | null;
  kept?: boolean;
}

async function onNode(env: Environment, node: NodeConfig, op: GroupOp): Promise<NodeFact> {
  switch (op.op) {
    case 'probe': {
      const { release } = await agentProbe(env.name, node.id)
        .currentRelease()
        .catch((err: unknown) => {
          throw ApplicationFailure.nonRetryable(`agent of node ${node.id} did not answer: ${describeFailure(err)}`, 'AgentUnavailable');
        });
      // A fresh node has nothing to check yet.
      if (release !== null) {
        await control.waitHealthy({ address: node.address, check: env.healthCheck, release, successThreshold: 1, deadlineMs: 15_000 });
      }
      return { id: node.id, release };
    }
    case 'stage':
      await agentDownload(env.name, node.id).stage({ release: op.release, ...op.artifact });
      return { id: node.id };
    case 'kept':
      return { id: node.id, kept: await agentProbe(env.name, node.id).isStaged({ release: op.release }) };
  }
}

/** The group as a workflow of its own. */
export async function nodeGroup({ environment, op }: GroupInput): Promise<NodeFact[]> {
  return Promise.all(environment.nodes.map((node) => onNode(environment, node, op)));
}

/** `op` on every node of `env`, in this workflow or fanned out to group children; facts in node order. */
export async function acrossFleet(env: Environment, op: GroupOp): Promise<NodeFact[]> {
  if (env.nodes.length <= GROUP_SIZE) return nodeGroup({ environment: env, op });
  const groups: NodeConfig[][] = [];
  for (let i = 0; i < env.nodes.length; i += GROUP_SIZE) groups.push(env.nodes.slice(i, i + GROUP_SIZE));
  // At most GROUPS_AT_ONCE groups run together: a few hundred nodes asked at once, not the whole fleet.
  const facts: NodeFact[][] = [];
  await inLanes(groups, GROUPS_AT_ONCE, async (nodes, i) => {
    facts[i] = await executeChild(nodeGroup, {
      workflowId: groupWorkflowId(env.name, op.op, i + 1),
      taskQueue: fleetTaskQueue(workflowInfo().taskQueue),
      args: [{ environment: { ...env, nodes }, op }],
    });
  });
  return facts.flat();
}
