// Every environment variable a Gantry process reads for its own settings, in one place: code reads
// them through `setting`, and the production stack's check compares docker-compose.yml against this.
// Temporal's connection variables are read by @temporalio/envconfig (see TEMPORAL_VARIABLES); secrets
// are named by the environment files themselves ({fromEnv}, ci.tokenEnv).
export const GANTRY_VARIABLES = {
  GANTRY_TASK_QUEUE: 'orchestrator task queue (default "gantry")',
  GANTRY_ENVIRONMENTS: "the orchestrator worker's directory of environment definitions (<name>.yaml), e.g. a checkout of a config repository",
  GANTRY_DEPLOYMENT_NAME: 'the Worker Deployment the orchestrator worker belongs to (default "gantry-orchestrator")',
  GANTRY_CODEC_KEYS: 'payload encryption keys, newest first: id=file:/path or id=env:VARIABLE, comma-separated; the same on every Gantry process (payloads in clear when unset)',
  GANTRY_CODEC_TOKEN_FILE: "file holding the bearer token `gantry codec-server` requires",
  GANTRY_CODEC_TOKEN: "the codec server's bearer token itself, when a file is impractical (docker compose); GANTRY_CODEC_TOKEN_FILE wins",
  GANTRY_METRICS_ADDRESS: 'host:port where `gantry worker` serves Prometheus metrics (off when unset)',
  GANTRY_LOG_LEVEL: 'pino level: trace, debug, info (default), warn, error',
  GANTRY_MIRRORS_DIR: "where the worker keeps mirrors of the environments' git remotes",
  XDG_CACHE_HOME: 'cache root for mirrors and the bundled workflow code (default ~/.cache)',
} as const;

/** What @temporalio/envconfig reads (plus TEMPORAL_GRPC_META_<name> headers), the same as the `temporal` CLI. */
export const TEMPORAL_VARIABLES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
  'TEMPORAL_CODEC_ENDPOINT',
  'TEMPORAL_CODEC_AUTH',
] as const;

export type GantryVariable = keyof typeof GANTRY_VARIABLES;

/** The variable's value, or undefined when unset or empty. */
export function setting(name: GantryVariable): string | undefined {
  return process.env[name] || undefined;
}
