// `gantry repair <env> [--to <release>] [--terminate]`: from any state — a terminated or stuck run, a
// node left drained or half-activated, servers toggled by hand — reads HAProxy and every agent (a
// read-only survey workflow on the orchestrator), decides the release most nodes serve healthily (or
// the one named), and starts a rollback to it that changes only the nodes off the invariant: on that
// release, healthy, in rotation. Prints what it found, and then what it did.
import type { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { connectClient } from '../../client/connection';
import { isValidReleaseId } from '../../lib/release/release-store';
import { deploymentWorkflowId, fleetSurveyWorkflowId, type FleetSurvey } from '../../workflows/api';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';
import { reportDeployment } from './deploy';

export interface RepairOptions {
  to?: string;
  terminate?: boolean;
  wait?: boolean;
  json?: boolean;
  requestedBy?: string;
  taskQueue: string;
}

type SurveyedNode = FleetSurvey['nodes'][number];

/** The invariant for one node: serves `release`, healthy, in rotation, and `current` agrees. */
export const isRight = (node: SurveyedNode, release: string) => node.reachable && node.release === release && node.current === undefined && node.healthy && node.lb === 'ready';

/** The release most reachable nodes serve healthily; undefined when none does, or two tie. */
export function majorityRelease(survey: FleetSurvey): string | undefined {
  const counts = new Map<string, number>();
  for (const node of survey.nodes) if (node.reachable && node.healthy && node.release) counts.set(node.release, (counts.get(node.release) ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1]);
  if (ranked.length === 0 || (ranked.length > 1 && ranked[0]![1] === ranked[1]![1])) return undefined;
  return ranked[0]![0];
}

export function describeNode(node: SurveyedNode): string {
  if (!node.reachable) return `${node.id.padEnd(16)} unreachable: ${node.error ?? 'its agent did not answer'}  lb ${node.lb}`;
  const current = node.current !== undefined ? ` (current names ${node.current ?? 'nothing'}: a half-done activation)` : '';
  return `${node.id.padEnd(16)} runs ${node.release ?? 'nothing'}${current}, ${node.healthy ? 'healthy' : 'unhealthy'}  lb ${node.lb}`;
}

async function endRunning(client: Client, environment: string, terminate: boolean, by: string, say: (line: string) => void): Promise<void> {
  const handle = client.workflow.getHandle(deploymentWorkflowId(environment));
  const description = await handle.describe().catch(() => undefined);
  if (description?.status.name !== 'RUNNING') return;
  if (!terminate) {
    throw new CliExit(
      `${deploymentWorkflowId(environment)} run ${description.runId} is still running; abort it (gantry abort), or run gantry repair --terminate to end it without compensation and let the repair put the fleet right`,
      ExitCode.rejected,
    );
  }
  await handle.terminate(`terminated by gantry repair (${by})`);
  say(`terminated ${deploymentWorkflowId(environment)} run ${description.runId}`);
}

export async function repairCommand(environment: string, options: RepairOptions): Promise<number> {
  requireEnvironmentName(environment);
  if (options.to !== undefined && !isValidReleaseId(options.to)) throw new CliExit(`--to "${options.to}": use letters, digits, ".", "_" or "-"`, ExitCode.rejected);
  const by = options.requestedBy ?? os.userInfo().username;
  // With --json, stdout carries one object: what was found and done goes to stderr.
  const say = (line: string) => (options.json ? console.error(line) : console.log(line));
  const { client, close } = await connectClient();
  try {
    await endRunning(client, environment, options.terminate === true, by, say);
    const survey = await client.workflow.execute<(input: { environment: string }) => Promise<FleetSurvey>>('fleetSurvey', {
      workflowId: fleetSurveyWorkflowId(environment, randomUUID()),
      taskQueue: options.taskQueue,
      args: [{ environment }],
      workflowExecutionTimeout: '2m',
    });
    say(`found on ${environment}:`);
    for (const node of survey.nodes) say(`  ${describeNode(node)}`);
    const release = options.to ?? majorityRelease(survey);
    if (!release) throw new CliExit(`no release is served healthily by more nodes than any other; name the one to bring the fleet to with --to`, ExitCode.rejected);
    const off = survey.nodes.filter((n) => !isRight(n, release));
    if (off.length === 0) {
      say(`nothing to repair: every node serves ${release} healthily and is in rotation`);
      if (options.json) console.log(JSON.stringify({ environment, status: 'live', release, repaired: [] }));
      return ExitCode.ok;
    }
    say(`repairing to ${release}: ${off.map((n) => n.id).join(', ')}${off.some((n) => !n.reachable) ? ' (an unreachable node is reported, not waited on)' : ''}`);
    const request = { input: { environment, release, kind: 'rollback' as const, repair: true as const, requestedBy: by }, taskQueue: options.taskQueue };
    return await reportDeployment(client, request, { wait: options.wait ?? false, json: options.json ?? false });
  } finally {
    await close();
  }
}
