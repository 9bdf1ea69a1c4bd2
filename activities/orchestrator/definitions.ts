// The orchestrator's environment definitions, read from the directory it owns (GANTRY_ENVIRONMENTS):
// the only source of a deployment's policy, nodes and load balancer.
import { ApplicationFailure } from '@temporalio/activity';
import { listDefinitions, readDefinition, UnknownEnvironment } from '../../lib/config/environment-file';
import type { Environment } from '../../lib/config/environment-schema';
import { InputError } from '../../lib/core/errors';
import { failureTypes } from '../../lib/core/failure-types';
import type { Logger } from '../../lib/core/logger';
import { describePlan, planHashOf, planOf } from '../../lib/identity/plan';
import { controllersOf, principalOf } from '../../lib/identity/policy';
import type { QueueSettings } from '../../lib/config/queue-schema';
import { windowState, type WindowState } from '../../lib/queue/windows';

/** What `gantry environments` shows: the orchestrator's definitions, each with its content hash. */
export interface EnvironmentListing {
  directory: string;
  environments: { name: string; sha256?: string; nodes?: number; error?: string }[];
}

export interface LoadedDefinition {
  environment: Environment;
  sha256: string;
  file: string;
  /** What approvers sign for (lib/identity/plan.ts); absent in histories from before signed approvals. */
  plan?: { hash: string; summary: string };
}

/** What the queue workflow decides by: its policy, the deploy windows as of now, where to tell the team. */
export interface QueueRules {
  sha256: string;
  queue: QueueSettings;
  window: WindowState | null;
  notifications: Environment['notifications'];
  /** promotion.auto: the queue offers the newest baked upstream release by itself. */
  promotion?: { from: string; bakeMs: number; checkEveryMs: number } | null;
  /** batch with CI: where the queue asks which waiting release is the newest green one. */
  batchChecks?: { source: Environment['source']; ci: Environment['ci']; pollIntervalMs: number } | null;
}

export interface DefinitionDeps {
  logger: Logger;
  /** Where the definitions live; unset: every deployment is refused, saying so. */
  dir: string | undefined;
}

export function createDefinitionActivities({ logger, dir }: DefinitionDeps) {
  const directory = (): string => {
    if (!dir) throw ApplicationFailure.nonRetryable('this orchestrator worker has no environment definitions: set GANTRY_ENVIRONMENTS to their directory', failureTypes.unknownEnvironment);
    return dir;
  };
  /** An unknown or invalid definition is permanent: the request fails at once, naming the problem. */
  const read = async (name: string) => {
    try {
      return await readDefinition(directory(), name);
    } catch (err) {
      if (err instanceof UnknownEnvironment) throw ApplicationFailure.nonRetryable(err.message, failureTypes.unknownEnvironment);
      if (err instanceof InputError) throw ApplicationFailure.nonRetryable(err.message, failureTypes.invalidEnvironment);
      throw err;
    }
  };
  return {
    /** The definition, validated (defaults filled in, paths resolved), and the sha256 of its file. */
    async loadEnvironment({ name }: { name: string }): Promise<LoadedDefinition> {
      const definition = await read(name);
      logger.info({ environment: name, sha256: definition.sha256, file: definition.file }, 'environment definition loaded');
      const plan = planOf(definition.environment);
      return { ...definition, plan: { hash: planHashOf(definition.environment), summary: describePlan(plan) } };
    },

    /** Who may lock, unlock, freeze or unfreeze: the definition's control list (anyone where it is open). */
    async queueControlCheck({ name, by, action }: { name: string; by: string; action: string }): Promise<{ allowed: boolean; why: string }> {
      const { environment } = await read(name);
      const who = principalOf(environment, by);
      const allowed = controllersOf(environment, '');
      if (!allowed || allowed.includes(who)) return { allowed: true, why: '' };
      return { allowed: false, why: `${who} may not ${action} ${name} (control.allowed: ${allowed.filter(Boolean).join(', ') || 'nobody'})` };
    },

    /** The queue's part of the definition, small enough to read at every request (the nodes stay out of its history). */
    async queueRules({ name }: { name: string }): Promise<QueueRules> {
      const { environment, sha256 } = await read(name);
      const p = environment.promotion;
      const promotion = p?.auto ? { from: p.from, bakeMs: p.bake, checkEveryMs: p.checkEvery } : null;
      const ci = environment.ci;
      const batchChecks = environment.queue.policy === 'batch' && ci.provider === 'github' ? { source: environment.source, ci, pollIntervalMs: ci.pollInterval } : null;
      return { sha256, queue: environment.queue, window: windowState(environment.windows, new Date()), notifications: environment.notifications, promotion, batchChecks };
    },

    async listEnvironments(): Promise<EnvironmentListing> {
      const d = directory();
      return { directory: d, environments: (await listDefinitions(d)).map(({ file: _file, ...rest }) => rest) };
    },
  };
}

export type DefinitionActivities = ReturnType<typeof createDefinitionActivities>;
