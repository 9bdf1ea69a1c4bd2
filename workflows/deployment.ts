// The deployment of one release to one environment:
// verify → notify → preflight → stage → migrate → roll out in batches → notify.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowFailure,
  executeChild,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { AgentActivities } from '../activities/agent';
import type { ControlActivities, WebhookTarget } from '../activities/control';
import { describeIssues, environmentSchema, serverName, type Environment, type NodeConfig } from '../lib/environment-schema';
import { agentTaskQueue, failureTypes, nodeWorkflowId, statusQuery, type DeployInput, type DeployResult } from './api';
import { DeploymentState } from './deployment-state';
import { nodeDeployment } from './node-deployment';

const quick = proxyActivities<ControlActivities>({
  startToCloseTimeout: '60s',
  retry: { initialInterval: '1s', maximumAttempts: 5 },
});
// Notifications are best effort: short time-outs, few tries, and failures never fail the deployment.
const notifications = proxyActivities<ControlActivities>({
  startToCloseTimeout: '5s',
  retry: { initialInterval: '1s', maximumAttempts: 3 },
});

export async function deployment(rawInput: DeployInput): Promise<DeployResult> {
  const input = validate(rawInput);
  const env = input.environment;
  const state = new DeploymentState(input);
  setHandler(statusQuery, () => state.status());
  const pendingNotices: Promise<void>[] = [];
  const notify = (event: string, extra: Record<string, unknown> = {}) => {
    pendingNotices.push(...env.notifications.webhooks.map((webhook) => sendNotice(state, webhook, event, extra)));
  };

  try {
    state.enter('verify');
    state.commit = await quick.resolveTag({ remote: env.source.remote, tag: input.release });
    state.record(`tag ${input.release} is commit ${state.commit}`);
    notify('started');

    state.enter('preflight');
    await preflight(env, state);

    state.enter('stage');
    await Promise.all(env.nodes.map((node) => agentOf(env, node, '10m').stage({ release: input.release, ...input.artifact })));
    state.record(`release ${input.release} staged on ${env.nodes.length} nodes`);

    if (env.migration) {
      state.enter('migrate');
      const runner = env.nodes.find((n) => n.id === (env.migration!.runner ?? env.nodes[0]!.id))!;
      const { durationMs } = await agentOf(env, runner, env.migration.timeout, 1).runCommand({
        argv: env.migration.command,
        release: input.release,
        env: env.migration.env,
        timeoutMs: env.migration.timeout,
      });
      state.record(`migration ran on ${runner.id} in ${durationMs} ms`);
    }

    state.enter('rollout');
    for (const [index, batch] of batchesOf(env).entries()) {
      await rollOutBatch(input, batch, state);
      state.record(`batch ${index + 1} live: ${batch.map((n) => n.id).join(', ')}`);
      notify('batch-done', { batch: index + 1 });
    }

    state.enter('live');
    notify('succeeded');
    await Promise.all(pendingNotices);
    return state.result();
  } catch (err) {
    const message = describeFailure(err);
    await CancellationScope.nonCancellable(async () => {
      state.enter('failed');
      state.record(`failed: ${message}`);
      notify('failed', { error: message });
      await Promise.all(pendingNotices);
    });
    throw ApplicationFailure.create({
      type: failureTypes.deploymentFailed,
      message: `deployment of ${input.release} to ${env.name} failed: ${message}`,
      nonRetryable: true,
      details: [state.result(message)],
      cause: err instanceof Error ? err : undefined,
    });
  }
}

function validate(input: DeployInput): DeployInput {
  const parsed = environmentSchema.safeParse(input?.environment);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(`invalid environment:\n${describeIssues(parsed.error)}`, failureTypes.invalidInput);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(input.release ?? '')) {
    throw ApplicationFailure.nonRetryable(`invalid release "${input.release}": use letters, digits, ".", "_" or "-"`, failureTypes.invalidInput);
  }
  if (!/^[0-9a-f]{64}$/.test(input.artifact?.sha256 ?? '')) {
    throw ApplicationFailure.nonRetryable('artifact.sha256 must be 64 lowercase hex digits', failureTypes.invalidInput);
  }
  return { ...input, environment: parsed.data };
}

function agentOf(env: Environment, node: NodeConfig, startToCloseTimeout: string | number, maximumAttempts = 5) {
  return proxyActivities<AgentActivities>({
    taskQueue: agentTaskQueue(env.name, node.id),
    scheduleToStartTimeout: '5m',
    startToCloseTimeout,
    heartbeatTimeout: '30s',
    retry: { initialInterval: '1s', maximumAttempts },
  });
}

/** Every agent answers, every server is in the load balancer, every running node is healthy. */
async function preflight(env: Environment, state: DeploymentState): Promise<void> {
  const lbStatus = await quick.checkServers({ lb: env.loadBalancer, servers: env.nodes.map(serverName) });
  await Promise.all(
    env.nodes.map(async (node) => {
      const agent = proxyActivities<AgentActivities>({
        taskQueue: agentTaskQueue(env.name, node.id),
        // An agent that does not pick this up quickly is down: say so instead of waiting.
        scheduleToStartTimeout: '15s',
        startToCloseTimeout: '10s',
        retry: { maximumAttempts: 3 },
      });
      const { release } = await agent.currentRelease().catch((err: unknown) => {
        throw ApplicationFailure.nonRetryable(`agent of node ${node.id} did not answer: ${describeFailure(err)}`, 'AgentUnavailable');
      });
      const entry = state.node(node.id);
      entry.release = entry.previousRelease = release;
      entry.lb = lbStatus[serverName(node)] ?? 'unknown';
      // A fresh node has nothing to check yet.
      if (release !== null) {
        await quick.waitHealthy({ address: node.address, check: env.healthCheck, release, successThreshold: 1, deadlineMs: 15_000 });
      }
    }),
  );
  state.record(`preflight passed: ${env.nodes.map((n) => `${n.id}=${state.node(n.id).release ?? '(none)'}`).join(', ')}`);
}

function batchesOf(env: Environment): NodeConfig[][] {
  const { batchSize } = env.rollout;
  const size = typeof batchSize === 'number' ? batchSize : Math.max(1, Math.ceil((env.nodes.length * parseInt(batchSize, 10)) / 100));
  const batches: NodeConfig[][] = [];
  for (let i = 0; i < env.nodes.length; i += size) batches.push(env.nodes.slice(i, i + size));
  return batches;
}

/** Runs a batch's node children; waits for all of them to settle so none is left mid-step. */
async function rollOutBatch(input: DeployInput, batch: NodeConfig[], state: DeploymentState): Promise<void> {
  const env = input.environment;
  const outcomes = await Promise.allSettled(
    batch.map(async (node) => {
      const entry = state.node(node.id);
      entry.state = 'deploying';
      state.record(`${node.id}: deploying ${input.release}`);
      try {
        const result = await executeChild(nodeDeployment, {
          workflowId: nodeWorkflowId(env.name, node.id),
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          args: [
            {
              environment: env.name,
              node,
              loadBalancer: env.loadBalancer,
              healthCheck: env.healthCheck,
              activateTimeoutMs: env.app.stopGrace + env.app.startTimeout,
              release: input.release,
              artifact: input.artifact,
            },
          ],
        });
        Object.assign(entry, { release: result.release, lb: result.lb, state: 'live' });
        state.record(`${node.id}: live on ${result.release} (healthy after ${result.healthAttempts} probes)`);
      } catch (err) {
        Object.assign(entry, { state: 'failed', error: describeFailure(err), lb: 'unknown' });
        throw err;
      }
    }),
  );
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}

async function sendNotice(state: DeploymentState, webhook: WebhookTarget, event: string, extra: Record<string, unknown>): Promise<void> {
  const status = state.status();
  const payload = {
    event,
    environment: status.environment,
    release: status.release,
    commit: status.commit,
    requestedBy: status.requestedBy,
    workflowId: status.workflowId,
    nodes: status.nodes.map(({ id, release, state: s }) => ({ id, release, state: s })),
    ...extra,
  };
  try {
    await notifications.notify({ webhook, payload });
  } catch (err) {
    state.record(`notification "${event}" not delivered: ${describeFailure(err)}`);
  }
}

/** The innermost useful message of a failure chain (child → activity → application failure). */
function describeFailure(err: unknown): string {
  let current: unknown = err;
  while ((current instanceof ChildWorkflowFailure || current instanceof ActivityFailure) && current.cause) current = current.cause;
  return current instanceof Error ? current.message : String(current);
}
