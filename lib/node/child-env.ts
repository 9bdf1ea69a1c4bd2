// The environment a node's commands (app, migrations, backups, pg tools) inherit from the agent: the
// agent's own credentials stay with the agent. A release's code must not be able to read the payload
// keys (it could then decrypt every history) or the Temporal credentials (it could then act as the agent).

const OWN_VARIABLES = new Set(['GANTRY_CODEC_KEYS', 'GANTRY_CODEC_TOKEN', 'GANTRY_CODEC_TOKEN_FILE']);

/** Variables GANTRY_CODEC_KEYS reads key material from (`id=env:VARIABLE`). */
export function codecKeyVariables(spec: string | undefined): string[] {
  return [...(spec ?? '').matchAll(/(?:^|,)\s*[^=,]+=env:([^,\s]+)/g)].map((m) => m[1]!);
}

/** `env` without the agent's credentials and without unset entries. */
export function inheritedEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const withheld = new Set([...OWN_VARIABLES, ...codecKeyVariables(env.GANTRY_CODEC_KEYS)]);
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && !withheld.has(e[0]) && !e[0].startsWith('TEMPORAL_')),
  );
}
