// A node agent's activities on a folder of its own, without Temporal: the node config a test names, a
// release store under `root`, and an app that is never started.
import { createAgentActivities } from '../../activities/agent';
import { nodeConfigSchema, type NodeConfigFile } from '../../lib/config/node-config';
import { createLogger } from '../../lib/core/logger';
import { AppSupervisor } from '../../lib/node/app-supervisor';
import { ReleaseStore } from '../../lib/release/release-store';

export async function agentOnDisk(o: { root: string; node: string; sources: string; migrations?: Record<string, unknown>; commandEnv?: Record<string, string> }) {
  const store = new ReleaseStore(o.root);
  await store.init();
  const logger = createLogger('test', 'silent');
  const config: NodeConfigFile = nodeConfigSchema.parse({
    environment: 'test',
    node: o.node,
    root: o.root,
    app: { command: ['true'], address: '127.0.0.1:1' },
    artifacts: { allowedSources: [o.sources] },
    ...(o.migrations ? { migrations: o.migrations } : {}),
  });
  const app = new AppSupervisor(o.root, { command: ['true'], env: {}, stopSignal: 'SIGTERM', stopGraceMs: 1000, startTimeoutMs: 1000, address: '127.0.0.1:1' }, logger);
  return { store, activities: createAgentActivities({ store, app, logger, config, commandEnv: o.commandEnv ?? {}, secretValues: [] }) };
}
