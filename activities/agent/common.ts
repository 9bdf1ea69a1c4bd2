// What both halves of the agent's activities share: their dependencies, one lock for the node, and
// the release-id check.
import { ApplicationFailure } from '@temporalio/activity';
import type { Logger } from '../../lib/core/logger';
import { failureTypes } from '../../lib/core/failure-types';
import type { AppSupervisor } from '../../lib/node/app-supervisor';
import { isValidReleaseId, type ReleaseStore } from '../../lib/release/release-store';

export interface AgentDeps {
  store: ReleaseStore;
  app: AppSupervisor;
  logger: Logger;
  keepReleases: number;
  /** Environment for commands and backups: the agent's own (secrets such as DATABASE_URL live here) plus the app's. */
  commandEnv: Record<string, string>;
}

/** Runs `work` after every earlier one: staging, activation and commands change the node one at a time. */
export type Exclusive = <T>(work: () => Promise<T>) => Promise<T>;

export function createMutex(): Exclusive {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work, work);
    tail = run.catch(() => undefined);
    return run;
  };
}

export function requireRelease(release: string): void {
  if (!isValidReleaseId(release)) {
    throw ApplicationFailure.nonRetryable(`release "${release}" is not a valid release id (letters, digits, ".", "_", "-")`, failureTypes.invalidInput);
  }
}
