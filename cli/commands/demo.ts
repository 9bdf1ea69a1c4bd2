// `gantry demo`: the whole local stack (Temporal dev server, HAProxy, 3 agents, the orchestrator
// worker) and two real deployments of the sample app, v1 then v2. With --strategy blue-green: two pools
// of --nodes nodes each, v1 then v2 by a switch, then `gantry switch-back` to v1 while v1's pool is warm.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startLocalStack, type LocalStack } from '../../devkit/local/stack';
import { startReaperSession } from '../../devkit/local/reaper';
import { setup } from '../../devkit/setup';
import { awaitOutcome, printEvents } from '../../client/deployments';
import { startDeployment } from './deploy';
import { switchBack } from './switch-back';
import { CliExit, ExitCode } from '../exit-codes';
import { connectClient } from '../../client/connection';

export async function demoCommand(options: { once?: boolean; nodes: number; strategy?: string }): Promise<number> {
  if (options.strategy !== undefined && options.strategy !== 'rolling' && options.strategy !== 'blue-green') {
    throw new CliExit(`--strategy "${options.strategy}": use rolling or blue-green`, ExitCode.rejected);
  }
  const blueGreen = options.strategy === 'blue-green';
  const started = Date.now();
  // Whatever ends the demo (Ctrl-C, SIGTERM, kill -9), no server, agent or app outlives it.
  startReaperSession();
  const tools = setup((line) => console.error(`setup: ${line}`));
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gantry-demo-'));
  console.error(`demo: working in ${dir}`);
  const stack = await startLocalStack({
    dir,
    name: 'demo',
    // Blue-green: --nodes per pool.
    nodeCount: blueGreen ? options.nodes * 2 : options.nodes,
    ...(blueGreen ? { blueGreen: true } : {}),
    releases: ['v1', 'v2'],
    haproxyPath: tools.haproxy,
    temporalPath: tools.temporal,
    devServerPorts: { port: 7233, uiPort: 8233 },
    taskQueue: 'gantry-demo',
  });
  const stopAll = async () => {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    console.error(`demo: Temporal Web UI: ${stack.uiUrl}/namespaces/default/workflows  (server ${stack.temporalAddress})`);
    console.error(`demo: app through HAProxy: ${stack.haproxy.url}/${stack.haproxy.shadowUrl ? `  (shadow address, the idle pool: ${stack.haproxy.shadowUrl}/)` : ''}`);
    if (stack.codecServer) console.error(`demo: payloads encrypted; the UI decrypts through gantry codec-server at ${stack.codecServer.url} (token in ${dir}/codec.token)`);
    Object.assign(process.env, stack.clientEnv);
    const { client, close } = await connectClient();
    try {
      for (const release of ['v1', 'v2']) {
        const t0 = Date.now();
        console.error(`\ndemo: deploying ${release}`);
        const handle = await startDeployment(client, stack.name, release, {
          sha256: stack.repo.releases[release]!.sha256,
          requestedBy: 'demo',
          taskQueue: stack.taskQueue,
        });
        const outcome = await awaitOutcome(handle, printEvents((line) => console.error(`  ${line}`)));
        console.error(`demo: ${release} ${outcome.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        if (outcome.status !== 'live') throw new CliExit(`deployment of ${release} failed: ${outcome.error}`, ExitCode.failed);
        if (outcome.pools) console.error(`demo: users reach ${outcome.pools.live}${outcome.pools.warmUntil ? `; the other pool stays warm until ${outcome.pools.warmUntil}` : ''}`);
      }
      if (blueGreen) {
        console.error(`\ndemo: gantry switch-back ${stack.name} --as demo`);
        const t0 = Date.now();
        const back = await switchBack(client, stack.name, { as: 'demo', reason: 'showing the instant switch back' });
        console.error(`demo: users reach ${back.live} (${back.release}) again, ${Date.now() - t0} ms after asking`);
      }
    } finally {
      await close();
    }
    const expected = blueGreen ? 'v1' : 'v2';
    const seen = await releasesThroughHaproxy(stack, options.nodes * 4);
    console.error(`demo: through HAProxy: ${[...seen].map(([node, release]) => `${node}=${release}`).join(', ')}`);
    const allOnExpected = seen.size === options.nodes && [...seen.values()].every((r) => r === expected);
    console.error(`demo: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (options.once) {
      if (!allOnExpected) throw new CliExit(`not every node users reach serves ${expected} through HAProxy`, ExitCode.failed);
      return ExitCode.ok;
    }
    console.error('demo: running for inspection; Ctrl-C to stop');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    return ExitCode.ok;
  } finally {
    await stopAll();
  }
}

/** Which release each node serves, as seen by requests through the load balancer. */
async function releasesThroughHaproxy(stack: LocalStack, requests: number): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  for (let i = 0; i < requests; i++) {
    const response = await fetch(`${stack.haproxy.url}/`);
    const body = (await response.json()) as { node: string; release: string };
    if (response.status === 200) seen.set(body.node, body.release);
  }
  return seen;
}
