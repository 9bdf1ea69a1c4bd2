// The orchestrator's Worker Deployment on the Temporal server: which builds (versions) exist, which is
// current, which still drain pinned deployments; and making a build current. Used by `gantry worker`,
// `gantry versions` and the tests.
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { sleep } from '../lib/core/wait';

const { temporal } = proto;

export const DEFAULT_DEPLOYMENT_NAME = 'gantry-orchestrator';

const Status = temporal.api.enums.v1.WorkerDeploymentVersionStatus;
const Drainage = temporal.api.enums.v1.VersionDrainageStatus;

export interface VersionView {
  buildId: string;
  /** inactive, current, ramping, draining or drained. */
  status: string;
  /** For a version that is no longer current: draining while pinned workflows still run on it, then drained. */
  drainage: string | null;
}

const words = (name: string | undefined, prefix: string) => (name ?? 'UNSPECIFIED').replace(prefix, '').toLowerCase();

/** Every version of the deployment, or [] when no worker of it has polled yet. */
export async function listVersions(client: Client, deploymentName: string): Promise<{ current: string | null; versions: VersionView[] }> {
  const info = await describe(client, deploymentName);
  if (!info) return { current: null, versions: [] };
  const versions = (info.workerDeploymentInfo?.versionSummaries ?? []).map((v) => ({
    buildId: v.deploymentVersion?.buildId ?? '',
    status: words(Status[v.status ?? 0], 'WORKER_DEPLOYMENT_VERSION_STATUS_'),
    drainage: v.drainageStatus ? words(Drainage[v.drainageStatus], 'VERSION_DRAINAGE_STATUS_') : null,
  }));
  return { current: info.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? null, versions };
}

async function describe(client: Client, deploymentName: string) {
  try {
    return await client.workflowService.describeWorkerDeployment({ namespace: client.options.namespace, deploymentName });
  } catch (err) {
    if ((err as { code?: number }).code === 5) return undefined; // NOT_FOUND: no worker of it has polled yet
    throw err;
  }
}

/**
 * Makes `buildId` the current version once its workers poll, and waits until the routing reached the
 * task queues: new deployments then start on it, running ones stay on the build that started them.
 */
export async function makeCurrent(
  client: Client,
  deploymentName: string,
  buildId: string,
  identity: string,
  timeoutMs = 60_000,
  /** false: return once the build is current even if the routing is still reaching the task queues. */
  awaitRouting = true,
): Promise<{ previous: string | null; settled: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let info = await describe(client, deploymentName);
  // The server knows a version once one of its workers polled.
  while (!info?.workerDeploymentInfo?.versionSummaries?.some((v) => v.deploymentVersion?.buildId === buildId)) {
    if (Date.now() > deadline) throw new Error(`build ${buildId} of ${deploymentName} did not register with Temporal within ${timeoutMs} ms; is its worker polling?`);
    await sleep(250);
    info = await describe(client, deploymentName);
  }
  const routing = () => info?.workerDeploymentInfo?.routingConfig;
  const previous = routing()?.currentDeploymentVersion?.buildId ?? null;
  // A build whose worker polls several task queues registers with the first; until it has polled every
  // queue the current build has, the server refuses the switch (FAILED_PRECONDITION), so try again.
  while (previous !== buildId && routing()?.currentDeploymentVersion?.buildId !== buildId) {
    try {
      await client.workflowService.setWorkerDeploymentCurrentVersion({ namespace: client.options.namespace, deploymentName, buildId, identity, conflictToken: info?.conflictToken });
      break;
    } catch (err) {
      const code = (err as { code?: number }).code; // 9 FAILED_PRECONDITION, 10 ABORTED (stale conflict token)
      info = await describe(client, deploymentName);
      // Two workers of the same build starting together: the other one won, which is what we wanted.
      if (routing()?.currentDeploymentVersion?.buildId === buildId) break;
      if ((code !== 9 && code !== 10) || Date.now() > deadline) throw err;
      await sleep(250);
      info = await describe(client, deploymentName);
    }
  }
  const inProgress = temporal.api.enums.v1.RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS;
  while (routing()?.currentDeploymentVersion?.buildId !== buildId || info?.workerDeploymentInfo?.routingConfigUpdateState === inProgress) {
    if (Date.now() > deadline && !awaitRouting && routing()?.currentDeploymentVersion?.buildId === buildId) return { previous, settled: false };
    if (Date.now() > deadline) throw new Error(`routing to build ${buildId} of ${deploymentName} did not settle within ${timeoutMs} ms`);
    await sleep(250);
    info = await describe(client, deploymentName);
  }
  return { previous, settled: true };
}
