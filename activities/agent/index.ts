// Node-side activities, run by the agent on each node; all idempotent, so a retry after a crash is
// safe, and all behind one lock, so a retry never overlaps an old attempt's change of the node.
import { createMutex, type AgentDeps } from './common';
import { createConfigActivities } from './config';
import { createDatabaseActivities } from './database';
import { createReleaseActivities } from './release';

export type { AgentDeps } from './common';
export type { BackupResult, MigrationInput, MigrationPhase } from './database';
export type { StageInput } from './release';
export type { RenderConfigInput } from './config';

export function createAgentActivities(deps: AgentDeps) {
  const exclusive = createMutex();
  return { ...createReleaseActivities(deps, exclusive), ...createDatabaseActivities(deps, exclusive), ...createConfigActivities(deps, exclusive) };
}

export type AgentActivities = ReturnType<typeof createAgentActivities>;
