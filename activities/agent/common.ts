// What both halves of the agent's activities share: their dependencies (the node's own config among
// them), one lock for the node, the release-id check, and removing secrets from reported output.
import { ApplicationFailure } from '@temporalio/activity';
import type { NodeConfigFile } from '../../lib/config/node-config';
import type { Logger } from '../../lib/core/logger';
import { failureTypes } from '../../lib/core/failure-types';
import type { AppSupervisor } from '../../lib/node/app-supervisor';
import { isValidReleaseId, type ReleaseStore } from '../../lib/release/release-store';

export interface AgentDeps {
  store: ReleaseStore;
  app: AppSupervisor;
  logger: Logger;
  /** The node's own config: the only source of what this agent runs and downloads. */
  config: NodeConfigFile;
  /** Environment for commands and backups: the agent's own, the app's and the node's secrets (DATABASE_URL among them). */
  commandEnv: Record<string, string>;
  /** Values that never leave the node: removed from any output an activity reports. */
  secretValues: string[];
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

/** Refused because the node's config does not allow it; names what was refused and where to allow it. */
export function notAllowed(node: string, what: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`node ${node} refused ${what}`, failureTypes.notAllowed);
}

/** `text` with every secret value (and a URL's password) replaced, for messages that go to history and chat. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}

/** The values to redact: each secret and, for URLs among them, their password alone (tools print URLs without it). */
export function secretValuesOf(values: readonly string[]): string[] {
  const out = new Set<string>();
  for (const value of values) {
    out.add(value);
    try {
      const password = decodeURIComponent(new URL(value).password);
      if (password) out.add(password);
    } catch {
      // not a URL
    }
  }
  return [...out].sort((a, b) => b.length - a.length);
}
