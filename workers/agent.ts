// The node agent: a Temporal worker on one node, polling that node's task queue.
import { Worker } from '@temporalio/worker';
import { createAgentActivities } from '../activities/agent';
import { AppSupervisor } from '../lib/node/app-supervisor';
import type { Environment } from '../lib/config/environment-schema';
import { InputError } from '../lib/core/errors';
import type { Logger } from '../lib/core/logger';
import { ReleaseStore } from '../lib/release/release-store';
import { endLeftoverCommand } from '../lib/node/run-command';
import { agentTaskQueue } from '../workflows/api';
import { connectWorker } from './connection';

const KEEP_RELEASES = 5;

export async function runAgent(env: Environment, nodeId: string, baseLogger: Logger): Promise<void> {
  const node = env.nodes.find((n) => n.id === nodeId);
  if (!node) throw new InputError(`--node ${nodeId}: environment ${env.name} has no such node (nodes: ${env.nodes.map((n) => n.id).join(', ')})`);
  const logger = baseLogger.child({ environment: env.name, node: node.id });
  const store = new ReleaseStore(node.root);
  await store.init();
  const app = new AppSupervisor(
    node.root,
    {
      command: env.app.command,
      env: { ...env.app.env, ...node.env },
      stopSignal: env.app.stopSignal,
      stopGraceMs: env.app.stopGrace,
      startTimeoutMs: env.app.startTimeout,
      address: node.address,
    },
    logger.child({ component: 'app' }),
  );
  const leftover = await endLeftoverCommand(store.commandPidFile);
  if (leftover) logger.warn({ pid: leftover }, 'ended a command the previous agent left running');
  await resumeApp(store, app, logger);

  const { connection, namespace } = await connectWorker();
  try {
    const taskQueue = agentTaskQueue(env.name, node.id);
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      // Deliver cancellation (abort) to heartbeating activities within a second.
      maxHeartbeatThrottleInterval: '1s',
      activities: createAgentActivities({
        store,
        app,
        logger,
        keepReleases: KEEP_RELEASES,
        commandEnv: { ...definedOnly(process.env), ...env.app.env, ...node.env },
      }),
      maxConcurrentActivityTaskExecutions: 4,
    });
    logger.info({ taskQueue, root: node.root }, 'agent running');
    await worker.run();
  } finally {
    await connection.close();
  }
}

/** After a node reboot the current release should serve again; an app that survived is adopted. */
async function resumeApp(store: ReleaseStore, app: AppSupervisor, logger: Logger): Promise<void> {
  const current = await store.current();
  const running = await app.running();
  if (current && running !== current) {
    logger.info({ release: current }, 'current release is not running; starting it');
    if (running) await app.stop();
    await app.start(current, store.releaseDir(current));
  } else if (running) {
    logger.info({ release: running }, 'adopted the running app');
  }
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
