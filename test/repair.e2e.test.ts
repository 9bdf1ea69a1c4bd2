// gantry repair (issue 16): after `temporal workflow terminate` no compensation runs, so a node is left
// on the new release and another drained by hand; repair reads HAProxy and every agent, picks the
// release most nodes serve healthily, changes only the nodes off the invariant, and says what it did.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DeployOutcome } from '../client/deployments';
import { startDeployment } from '../cli/commands/deploy';
import { loadEnvironmentFile } from '../lib/config/environment-file';
import type { Environment } from '../lib/config/environment-schema';
import { waitUntil } from '../lib/core/wait';
import { HaproxyClient } from '../lib/lb/haproxy';
import { deploymentWorkflowId, nodeWorkflowId, statusQuery } from '../workflows/api';
import { runGantry } from './helpers/cli';
import { expectInvariant, servedReleases } from './helpers/invariant';
import { startLiveStack, type TestStack } from './helpers/stack';

const run = promisify(execFile);
let stack: TestStack;
let env: Environment;

describe('gantry repair', () => {
  beforeAll(async () => {
    stack = await startLiveStack(['v1', 'v2']);
    env = await loadEnvironmentFile(stack.envFile);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('brings the fleet to the invariant after a terminated run, changing only the nodes off it', async () => {
    // A pause after the first batch: web-1 is on v2 when the run is terminated.
    await stack.define({ rollout: { batchSize: 1, pauseBetweenBatches: '5m' } });
    const handle = await startDeployment(stack.client, stack.name, 'v2', { sha256: stack.repo.releases.v2!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue });
    expect(await waitUntil(async () => (await handle.query(statusQuery)).events.some((e) => e.what.startsWith('pausing')), 60_000, 50)).toBe(true);
    await run(inject('temporalPath'), ['workflow', 'terminate', '--address', stack.temporalAddress, '--workflow-id', deploymentWorkflowId(stack.name), '--reason', 'stuck']);
    // And a hand left web-3 drained.
    await new HaproxyClient(env.loadBalancer.socket).setServerState(env.loadBalancer.backend, 'web-3', 'maint');
    expect(await servedReleases(env)).toEqual({ 'web-1': 'v2', 'web-2': 'v1', 'web-3': 'v1' });

    const status = await runGantry(['status', stack.name], stack.clientEnv);
    expect(status.stdout).toContain(`the run ended terminated without a result, so no compensation ran`);
    expect(status.stdout).toContain(`run \`gantry repair ${stack.name}\``);

    // The repair follows the definition's rollout like any rollback: without the pause now.
    await stack.define({ rollout: { batchSize: 1 } });
    const started = Date.now();
    const repaired = await runGantry(['repair', stack.name, '--wait', '--json', '--requested-by', 'alice'], stack.clientEnv);
    const took = Date.now() - started;
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stderr).toContain('web-1            runs v2, healthy  lb ready');
    expect(repaired.stderr).toContain('web-3            runs v1, healthy  lb maint');
    expect(repaired.stderr).toContain('repairing to v1: web-1, web-3');
    const outcome = JSON.parse(repaired.stdout) as DeployOutcome;
    expect(outcome.status).toBe('live');
    await expectInvariant(env, outcome.nodes!);
    expect(await servedReleases(env)).toEqual({ 'web-1': 'v1', 'web-2': 'v1', 'web-3': 'v1' });
    const repairRun = await stack.client.workflow.getHandle(deploymentWorkflowId(stack.name), outcome.runId).query(statusQuery);
    expect(repairRun.events.map((e) => e.what)).toContain('repair: web-1, web-3 to v1; web-2 already right');
    // web-2 was right: no node workflow of this run touched it.
    const touched = async (node: string) => {
      const runs: string[] = [];
      for await (const child of stack.client.workflow.list({ query: `WorkflowId = "${nodeWorkflowId(stack.name, node)}" AND StartTime > "${new Date(started).toISOString()}"` })) runs.push(child.runId);
      return runs.length;
    };
    expect(await touched('web-1')).toBe(1);
    expect(await touched('web-2')).toBe(0);
    console.log(`repair of 2 nodes after a terminated run: ${(took / 1000).toFixed(1)} s (CLI start to result)`);

    const again = await runGantry(['repair', stack.name, '--requested-by', 'alice'], stack.clientEnv);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to repair: every node serves v1 healthily and is in rotation');
  });

  it('brings the fleet to the named release after a run terminated in the middle of a node', async () => {
    await stack.define({ rollout: { batchSize: 1 } });
    const handle = await startDeployment(stack.client, stack.name, 'v2', { sha256: stack.repo.releases.v2!.sha256, requestedBy: 'alice', taskQueue: stack.taskQueue });
    // Terminated while web-2 is mid-cycle: out of rotation, its app stopping or starting.
    expect(await waitUntil(async () => (await handle.query(statusQuery)).nodes.some((n) => n.id === 'web-2' && n.state === 'deploying'), 60_000, 10)).toBe(true);
    await run(inject('temporalPath'), ['workflow', 'terminate', '--address', stack.temporalAddress, '--workflow-id', deploymentWorkflowId(stack.name), '--reason', 'stuck']);

    const repaired = await runGantry(['repair', stack.name, '--to', 'v1', '--wait', '--json', '--requested-by', 'alice'], stack.clientEnv);
    expect(repaired.code, repaired.stderr).toBe(0);
    const outcome = JSON.parse(repaired.stdout) as DeployOutcome;
    expect(outcome.status).toBe('live');
    await expectInvariant(env, outcome.nodes!);
    expect(await servedReleases(env)).toEqual({ 'web-1': 'v1', 'web-2': 'v1', 'web-3': 'v1' });
  });
});
