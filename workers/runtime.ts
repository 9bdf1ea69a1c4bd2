// Routes the Temporal SDK's own logs into our pino logger, once per process, and optionally serves
// the SDK's metrics (task latencies, slots, poll results) for Prometheus.
import { Runtime, type LogLevel, type LogMetadata } from '@temporalio/worker';
import { InputError } from '../lib/core/errors';
import type { Logger } from '../lib/core/logger';

export function installRuntime(logger: Logger, metricsAddress?: string): void {
  if (metricsAddress !== undefined && !/^[^:\s]+:\d{1,5}$/.test(metricsAddress)) {
    throw new InputError(`--metrics "${metricsAddress}": expected host:port, e.g. 127.0.0.1:9464`);
  }
  const sdk = logger.child({ component: 'temporal-sdk' });
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const method = ({ TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const)[level];
    sdk[method](meta ?? {}, message);
  };
  Runtime.install({
    ...(metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress } } } } : {}),
    logger: {
      log: write,
      trace: (m, meta) => write('TRACE', m, meta),
      debug: (m, meta) => write('DEBUG', m, meta),
      info: (m, meta) => write('INFO', m, meta),
      warn: (m, meta) => write('WARN', m, meta),
      error: (m, meta) => write('ERROR', m, meta),
    },
  });
}
