// Runs readable by operators and CI: search attributes, summaries and current details in the
// Temporal UI's terms, `gantry list`, and the worker's Prometheus metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { freePort } from '../devkit/local/ports';
import { waitUntil } from '../lib/core/wait';
import { deploymentWorkflowId, nodeWorkflowId } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { startTestStack, type TestStack } from './helpers/stack';
import { payloadJson } from './helpers/payloads';

let stack: TestStack;
let metrics: string;

const deploy = (release: string) =>
  startDeployment(stack.client, stack.name, release, { sha256: stack.repo.releases[release]!.sha256, requestedBy: 'ops', taskQueue: stack.taskQueue });

async function found(query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const run of stack.client.workflow.list({ query })) ids.push(`${run.workflowId}@${run.runId}`);
  return ids;
}

describe('runs readable in the Temporal UI and from the CLI', () => {
  beforeAll(async () => {
    metrics = `127.0.0.1:${await freePort()}`;
    stack = await startTestStack({ workerEnv: { GANTRY_METRICS_ADDRESS: metrics } });
    expect((await awaitOutcome(await deploy('v1'))).status).toBe('live');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('is findable by its search attributes right after start and after each phase', async () => {
    const handle = await deploy('v2');
    const me = `${handle.workflowId}@${handle.firstExecutionRunId}`;
    const byRelease = `GantryEnvironment = "${stack.name}" AND GantryRelease = "v2" AND GantryRequestedBy = "ops"`;
    expect(await waitUntil(async () => (await found(byRelease)).includes(me), 10_000, 100)).toBe(true);
    const phasesSeen = new Set<string>();
    const outcome = awaitOutcome(handle);
    let done = false;
    void outcome.finally(() => (done = true));
    while (!done) {
      const described = await handle.describe();
      const phase = described.searchAttributes.GantryPhase as string[] | undefined;
      if (phase?.[0]) phasesSeen.add(phase[0]);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await outcome).status).toBe('live');
    expect([...phasesSeen].some((p) => ['verify', 'preflight', 'stage', 'rollout'].includes(p))).toBe(true);
    expect(await waitUntil(async () => (await found(`GantryEnvironment = "${stack.name}" AND GantryPhase = "live"`)).includes(me), 10_000, 100)).toBe(true);
  });

  it('says in words what it is, where it stands and what each step does', async () => {
    const handle = stack.client.workflow.getHandle(deploymentWorkflowId(stack.name));
    expect(await (await handle.describe()).staticSummary()).toBe(`Deploy v2 to ${stack.name}, requested by ops`);
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain('**live**');
    for (const id of stack.nodeIds) expect(metadata.currentDetails).toContain(`| ${id} | live | v2 | ready |`);

    const history = await stack.client.workflow.getHandle(nodeWorkflowId(stack.name, 'web-2')).fetchHistory();
    // Activities on the agent, and the node's own load-balancer and health steps (local activities: markers).
    const summaries = (
      await Promise.all(
        (history.events ?? []).map(async (e) => {
          const summary = e.activityTaskScheduledEventAttributes || e.markerRecordedEventAttributes ? e.userMetadata?.summary : undefined;
          return summary ? [await payloadJson<string>(summary)] : [];
        }),
      )
    ).flat();
    expect(summaries).toEqual(['drain web-2', 're-check web-2 is out of rotation', 'activate v2 on web-2', 'health web-2', 'enable web-2']);
  });

  it('`gantry list` finds deployments by environment and phase', async () => {
    const run = await runGantry(['list', '--env', stack.name, '--phase', 'live', '--json'], stack.clientEnv);
    expect(run.code).toBe(0);
    const rows = JSON.parse(run.stdout) as { release: string; phase: string; requestedBy: string; status: string }[];
    expect(rows[0]).toMatchObject({ release: 'v2', phase: 'live', requestedBy: 'ops', status: 'COMPLETED' });
    expect(rows.every((r) => r.phase === 'live')).toBe(true);
  });

  it('the worker serves Prometheus metrics', async () => {
    const response = await fetch(`http://${metrics}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^temporal_workflow_completed\b/m);
    expect(text).toMatch(/^temporal_activity_execution_latency/m);
  });
});
