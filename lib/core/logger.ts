// One structured logger for every process. Context goes into child loggers, never into message strings.
import { pino, type Logger } from 'pino';
import { setting } from '../config/settings';

export type { Logger };

export function createLogger(name: string, level = setting('GANTRY_LOG_LEVEL') ?? 'info'): Logger {
  return pino({
    name,
    level,
    // Webhook URLs and tokens must never reach a log line.
    redact: { paths: ['url', '*.url', 'token', '*.token', 'headers.authorization'], censor: '[redacted]' },
  });
}
