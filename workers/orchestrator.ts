// The orchestrator worker: runs deployment workflows and the control activities, as one build (a
// version) of the Worker Deployment `gantry-orchestrator`. Deployments are PINNED to the build that
// started them, so upgrading Gantry never replays a running deployment on other workflow code.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { createControlActivities, type ControlDeps } from '../activities/orchestrator/control';
import { createDefinitionActivities } from '../activities/orchestrator/definitions';
import { createPoolActivities } from '../activities/orchestrator/pools';
import { createQueueActivities } from '../activities/orchestrator/queue';
import { createPromotionActivities } from '../activities/orchestrator/promotion';
import { createSignatureActivities } from '../activities/orchestrator/signatures';
import { createVerificationActivities } from '../activities/orchestrator/verification';
import { connectSettings } from '../client/connection';
import { clientDataConverter, payloadCodec, workerDataConverter } from '../client/data-converter';
import { DEFAULT_DEPLOYMENT_NAME, listVersions, makeCurrent } from '../client/worker-deployment';
import { listDefinitions } from '../lib/config/environment-file';
import type { Logger } from '../lib/core/logger';
import { defaultMirrorsDir } from '../lib/source/git-mirror';
import { fleetTaskQueue, ORCHESTRATOR_TASK_QUEUE } from '../workflows/api';
import { connectWorker } from './connection';
import { workflowBundle, type Bundles } from './workflow-bundle';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Versioning {
  deploymentName: string;
  /** Default: the package version and a hash of both workflow bundles. */
  buildId?: string;
  /** Become the current version once polling (an upgrade); otherwise only when there is none yet. */
  makeCurrent: boolean;
}

export interface OrchestratorOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  logger: Logger;
  versioning?: Versioning;
  /** Tests only: other workflow code than this checkout's (a second build). */
  bundles?: Bundles;
  /** The directory of environment definitions this orchestrator deploys by (GANTRY_ENVIRONMENTS). */
  environmentsDir: string | undefined;
  /** Benchmarks only: an in-process load balancer instead of HAProxy. */
  loadBalancer?: ControlDeps['loadBalancer'];
}

export interface OrchestratorWorkers {
  buildId: string;
  run(): Promise<void>;
  shutdown(): void;
}

/** `0.1.0-3f9c2a7d1b4e`: what changes whenever the workflow code does. */
export function buildIdOf(bundles: Bundles): string {
  const hash = createHash('sha256').update(bundles.deployment.code).update(bundles.fleet.code).digest('hex').slice(0, 12);
  return `${PACKAGE_VERSION}-${hash}`;
}

/**
 * Two workers in one process: the deployment workflow (with verification and control activities) on
 * `taskQueue`, and the fleet's child workflows (batches, node groups, nodes — with the control
 * activities their local and group steps use) on the fleet queue, from a bundle without zod.
 */
export async function createOrchestratorWorker(options: OrchestratorOptions): Promise<OrchestratorWorkers> {
  const { connection, namespace, taskQueue, logger, loadBalancer } = options;
  const control = createControlActivities({ logger: logger.child({ component: 'control' }), ...(loadBalancer ? { loadBalancer } : {}) });
  const bundles = options.bundles ?? {
    deployment: await workflowBundle(Runtime.instance().logger, 'deployment'),
    fleet: await workflowBundle(Runtime.instance().logger, 'fleet'),
  };
  const versioning = options.versioning;
  const buildId = versioning?.buildId ?? buildIdOf(bundles);
  const common = {
    connection,
    namespace,
    dataConverter: workerDataConverter(),
    // Deliver cancellation (abort) to heartbeating activities within a second.
    maxHeartbeatThrottleInterval: '1s',
    // A dead worker's workflows move to a live one after this, instead of the default 10 s.
    stickyQueueScheduleToStartTimeout: '3s',
    ...(versioning
      ? { workerDeploymentOptions: { version: { deploymentName: versioning.deploymentName, buildId }, useWorkerVersioning: true as const, defaultVersioningBehavior: 'PINNED' as const } }
      : {}),
  };
  const workers = await Promise.all([
    Worker.create({
      ...common,
      taskQueue,
      workflowBundle: bundles.deployment,
      activities: {
        ...control,
        ...createDefinitionActivities({ logger: logger.child({ component: 'definitions' }), dir: options.environmentsDir }),
        ...createVerificationActivities({ logger: logger.child({ component: 'verification' }), mirrorsDir: defaultMirrorsDir() }),
        ...createSignatureActivities({ logger: logger.child({ component: 'signatures' }) }),
        ...createPoolActivities({ logger: logger.child({ component: 'pools' }) }),
        ...createQueueActivities({ logger: logger.child({ component: 'queue' }) }),
        ...createPromotionActivities({ logger: logger.child({ component: 'promotion' }) }),
      },
    }),
    Worker.create({ ...common, taskQueue: fleetTaskQueue(taskQueue), workflowBundle: bundles.fleet, activities: control }),
  ]);
  return {
    buildId,
    run: async () => {
      await Promise.all(workers.map((w) => w.run()));
    },
    shutdown: () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}

/** `gantry worker`: runs until SIGINT/SIGTERM (the SDK shuts the workers down gracefully). */
export async function runOrchestratorWorker(
  logger: Logger,
  options: { taskQueue?: string; deploymentName?: string; makeCurrent?: boolean; environments?: string } = {},
): Promise<void> {
  const taskQueue = options.taskQueue ?? ORCHESTRATOR_TASK_QUEUE;
  const deploymentName = options.deploymentName ?? DEFAULT_DEPLOYMENT_NAME;
  const { connection, namespace } = await connectWorker();
  const clientConnection = await Connection.connect(connectSettings().connectionOptions);
  try {
    const client = new Client({ connection: clientConnection, namespace, dataConverter: clientDataConverter() });
    const worker = await createOrchestratorWorker({
      connection,
      namespace,
      taskQueue,
      logger,
      environmentsDir: options.environments,
      versioning: { deploymentName, makeCurrent: options.makeCurrent ?? false },
    });
    const log = logger.child({ taskQueue, fleetTaskQueue: fleetTaskQueue(taskQueue), namespace, deploymentName, buildId: worker.buildId, environments: options.environments });
    const running = worker.run();
    try {
      // The server learns of a version from its first poll; only then can it become current.
      const { current } = await listVersions(client, deploymentName);
      if (options.makeCurrent || current === null) {
        // A busy server can take long to propagate the routing; the build is current, so keep running.
        const { previous, settled } = await makeCurrent(client, deploymentName, worker.buildId, `gantry-worker@${os.hostname()}`, 60_000, false);
        if (!settled) log.warn('this build is current; the routing is still reaching the task queues');
        log.info({ previous }, previous === worker.buildId ? 'this build was already current' : 'this build is now current: new deployments start on it');
      } else if (current !== worker.buildId) {
        log.warn({ current }, 'this build is not current: it runs the deployments pinned to it; make it current to take new ones (README: upgrading Gantry)');
      }
    } catch (err) {
      worker.shutdown();
      await running.catch(() => undefined);
      throw err;
    }
    if (options.environments) {
      const known = await listDefinitions(options.environments).catch((err: Error) => {
        log.warn({ err: err.message }, 'cannot read the environments directory; every deployment will be refused until it can');
        return [];
      });
      for (const d of known) {
        if (d.error) log.warn({ environment: d.name, error: d.error }, 'invalid environment definition');
        else log.info({ environment: d.name, sha256: d.sha256 }, 'environment definition');
      }
    }
    if (!payloadCodec().encrypting) log.warn('GANTRY_CODEC_KEYS is unset: payloads go to Temporal in clear (README: security model)');
    log.info('orchestrator worker running');
    await running;
  } finally {
    await clientConnection.close();
    await connection.close();
  }
}
