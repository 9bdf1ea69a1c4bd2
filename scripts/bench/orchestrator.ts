// The orchestrator worker for benchmarks, as its own process so its memory and CPU can be measured:
// the real worker (workflows, control and verification activities) with the in-process load
// balancer in place of HAProxy. Environment: TEMPORAL_ADDRESS, GANTRY_TASK_QUEUE, BENCH_DRAIN_MS and
// BENCH_FLEET_FILE (JSON: environment name → server names).
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { createLogger } from '../../lib/core/logger';
import { simLoadBalancers } from '../../devkit/sim/stack';
import { createOrchestratorWorker } from '../../workers/orchestrator';

const settings = z
  .object({
    TEMPORAL_ADDRESS: z.string().min(1),
    GANTRY_TASK_QUEUE: z.string().min(1),
    BENCH_DRAIN_MS: z.coerce.number().int().min(0),
    BENCH_FLEET_FILE: z.string().min(1),
    GANTRY_ENVIRONMENTS: z.string().min(1),
  })
  .parse(process.env);

Runtime.install({ logger: new DefaultLogger('WARN') });
const fleet = () => z.record(z.string(), z.array(z.string())).parse(JSON.parse(readFileSync(settings.BENCH_FLEET_FILE, 'utf8')));
const connection = await NativeConnection.connect({ address: settings.TEMPORAL_ADDRESS });
const worker = await createOrchestratorWorker({
  connection,
  namespace: 'default',
  taskQueue: settings.GANTRY_TASK_QUEUE,
  logger: createLogger('bench-orchestrator', 'warn'),
  environmentsDir: settings.GANTRY_ENVIRONMENTS,
  // Read when an environment is first seen: the bench writes the file before each deployment.
  loadBalancer: simLoadBalancers(settings.BENCH_DRAIN_MS, (environment) => fleet()[environment] ?? []),
});
process.once('SIGTERM', () => worker.shutdown());
console.log('ready');
await worker.run();
await connection.close();
