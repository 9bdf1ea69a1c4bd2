// `gantry switch-back <env> --as <name>`: users go back to the blue-green pool that served before the
// last switch, at once, while it is warm. During the deployment's watch it is the deployment's own
// abort (it switches back, then stops the new pool); after the deployment ended it is an update of the
// warm period's workflow. No verification and no preflight: the pool is running and was healthy.
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { connectClient } from '../../client/connection';
import { waitUntil } from '../../lib/core/wait';
import { abortUpdate, deploymentWorkflowId, statusQuery, switchBackUpdate, warmStatusQuery, warmWorkflowId, type WarmStatus } from '../../workflows/api';
import { maybeSign } from './operator';
import { requireEnvironmentName } from '../environment-name';
import { CliExit, ExitCode } from '../exit-codes';

export interface SwitchBackOptions {
  as: string;
  reason?: string;
  json?: boolean;
  /** Signing, as for gantry abort: --key, else ssh-agent's first key where the environment checks control signatures; --no-sign sends unsigned. */
  key?: string;
  sign?: boolean;
  validFor?: string;
}

export interface SwitchBackOutcome {
  environment: string;
  /** Where users are now, and the release that pool runs. */
  live: string;
  release: string;
  via: 'deployment' | 'warm-pool';
  at: string;
}

export async function switchBack(client: Client, environment: string, options: SwitchBackOptions): Promise<SwitchBackOutcome> {
  requireEnvironmentName(environment);
  if (!options.as.trim()) throw new CliExit('--as: say who switches back', ExitCode.rejected);
  const reason = options.reason ?? 'switch back';

  // The deployment itself, while it runs: after its switch, an abort switches back first.
  const deployment = client.workflow.getHandle(deploymentWorkflowId(environment));
  const running = await deployment.describe().then((d) => d.status.name === 'RUNNING', () => false);
  // Only a deployment in its switch or watch is switched back through its abort; otherwise an earlier switch's warm pool (if any) is.
  const status = running ? await deployment.query(statusQuery) : undefined;
  if (status?.pools && !status.pools.switchedBack && (status.phase === 'switch' || status.phase === 'watch')) {
    const signature = await maybeSign(status, 'abort', options);
    await deployment.executeUpdate(abortUpdate, { args: [{ by: options.as, reason: `switch back: ${reason}`, ...(signature ? { signature } : {}) }] }).catch((err: unknown) => {
      throw refusal(err);
    });
    // The undo switches first, before it stops the new pool: answer once it has.
    let after = status;
    const back = await waitUntil(async () => Boolean((after = await deployment.query(statusQuery)).pools?.switchedBack), 30_000, 50);
    if (!back) throw new CliExit(`the deployment was told to switch back but has not yet after 30 s (phase ${after.phase}); gantry status ${environment}`, ExitCode.failed);
    const previous = after.pools!.live;
    return { environment, live: previous, release: after.nodes.find((n) => n.pool === previous)?.previousRelease ?? '(unknown)', via: 'deployment', at: after.pools!.switchedBack!.at };
  }

  const warm = client.workflow.getHandle(warmWorkflowId(environment));
  const described = await warm.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) {
      const now = status?.pools ? `; the deployment of ${status.release} is in phase ${status.phase} (users reach ${status.pools.live}): gantry abort ${environment} stops it` : '';
      throw new CliExit(`${environment} has no warm pool to switch back to (no blue-green switch yet)${now}; use gantry rollback ${environment}`, ExitCode.rejected);
    }
    throw err;
  });
  if (described.status.name !== 'RUNNING') {
    const ended = (await warm.result().catch(() => undefined)) as WarmStatus | undefined;
    const why = ended
      ? ended.state === 'stopped'
        ? `${ended.warm} stopped at ${ended.at} (keepWarm ended ${ended.warmUntil}, after the switch at ${ended.switchedAt})`
        : ended.state === 'switched-back'
          ? `traffic was already switched back to ${ended.live} at ${ended.at} by ${ended.by}`
          : `a newer deployment took the idle pool at ${ended.at}`
      : `the warm period ended (${described.status.name})`;
    throw new CliExit(`cannot switch back: ${why}; use gantry rollback ${environment}${ended ? ` --to ${ended.warmRelease}` : ''} (a deployment of the old release)`, ExitCode.rejected);
  }
  const signature = await maybeSign(await warm.query(warmStatusQuery), 'switch-back', options);
  const after = await warm.executeUpdate(switchBackUpdate, { args: [{ by: options.as, reason, ...(signature ? { signature } : {}) }] }).catch((err: unknown) => {
    throw refusal(err);
  });
  if (after.state !== 'switched-back') throw new CliExit(`cannot switch back: ${after.error ?? after.state}`, ExitCode.failed);
  return { environment, live: after.live, release: after.warmRelease, via: 'warm-pool', at: after.at! };
}

function refusal(err: unknown): unknown {
  if (err instanceof WorkflowUpdateFailedError) return new CliExit(`switch-back refused: ${err.cause?.message ?? err.message}`, ExitCode.rejected);
  return err;
}

export async function switchBackCommand(environment: string, options: SwitchBackOptions): Promise<number> {
  const { client, close } = await connectClient();
  try {
    const started = Date.now();
    const outcome = await switchBack(client, environment, options);
    if (options.json) process.stdout.write(`${JSON.stringify({ ...outcome, tookMs: Date.now() - started })}\n`);
    else process.stdout.write(`switched back: users reach ${outcome.live} (${outcome.release}) on ${environment}, in ${Date.now() - started} ms\n`);
    return ExitCode.ok;
  } finally {
    await close();
  }
}
