// The node agent: a Temporal worker on one node, polling that node's task queue. What it runs comes
// from the node's own config file, read here at start; activities only name releases and phases.
import { Worker } from '@temporalio/worker';
import { createAgentActivities } from '../activities/agent';
import { secretValuesOf } from '../activities/agent/common';
import { parseKeyring } from '../lib/codec/keyring';
import type { NodeConfigFile } from '../lib/config/node-config';
import { readSecret } from '../lib/config/secrets';
import { InputError } from '../lib/core/errors';
import type { Logger } from '../lib/core/logger';
import { AppSupervisor } from '../lib/node/app-supervisor';
import { inheritedEnv } from '../lib/node/child-env';
import { endLeftoverCommand } from '../lib/node/run-command';
import { ReleaseStore } from '../lib/release/release-store';
import { agentTaskQueue } from '../workflows/api';
import { workerDataConverter } from '../client/data-converter';
import { connectWorker } from './connection';

export async function runAgent(config: NodeConfigFile, baseLogger: Logger): Promise<void> {
  const logger = baseLogger.child({ environment: config.environment, node: config.node });
  // Secrets are read once, here; a missing one stops the agent before it takes any work.
  const secrets: Record<string, string> = {};
  for (const [name, ref] of Object.entries(config.secrets)) {
    secrets[name] = await readSecret(ref).catch((err: Error) => {
      throw new InputError(`secrets.${name}: ${err.message}`);
    });
  }
  const store = new ReleaseStore(config.root);
  await store.init();
  const app = new AppSupervisor(
    config.root,
    {
      command: config.app.command,
      env: { ...config.app.env, ...secrets },
      stopSignal: config.app.stopSignal,
      stopGraceMs: config.app.stopGrace,
      startTimeoutMs: config.app.startTimeout,
      address: config.app.address,
    },
    logger.child({ component: 'app' }),
  );
  const leftover = await endLeftoverCommand(store.commandPidFile);
  if (leftover?.ended) logger.warn({ pid: leftover.pid }, 'ended a command the previous agent left running');
  else if (leftover) logger.info({ pid: leftover.pid }, 'the command a previous agent recorded is gone (its pid is free or another process now); left alone');
  await resumeApp(store, app, logger);

  const commandEnv = { ...inheritedEnv(), ...config.app.env, ...secrets };
  // Key material is redacted too: a command that found it some other way must not print it into history.
  const keyMaterial = [...parseKeyring(process.env.GANTRY_CODEC_KEYS).byId.values()].map((k) => k.material.toString('base64'));
  const { connection, namespace } = await connectWorker();
  try {
    const taskQueue = agentTaskQueue(config.environment, config.node);
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      dataConverter: workerDataConverter(),
      // Deliver cancellation (abort) to heartbeating activities within a second.
      maxHeartbeatThrottleInterval: '1s',
      activities: createAgentActivities({
        store,
        app,
        logger,
        config,
        commandEnv,
        secretValues: secretValuesOf([
          ...Object.values(secrets),
          ...keyMaterial,
          ...(commandEnv.DATABASE_URL ? [commandEnv.DATABASE_URL] : []),
          // Backups and restores use the migrations' DATABASE_URL when the node sets one there.
          ...(config.migrations?.env.DATABASE_URL ? [config.migrations.env.DATABASE_URL] : []),
        ]),
      }),
      maxConcurrentActivityTaskExecutions: 4,
    });
    logger.info({ taskQueue, root: config.root }, 'agent running');
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
