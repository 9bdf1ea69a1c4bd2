// Secrets never reach a message: a secret that is not a URL, a URL with a password in a tool's
// output, a token-bearing request to a plain-http host, and the agent's own credentials in its commands.
import { describe, expect, it } from 'vitest';
import { redact, secretValuesOf } from '../activities/agent/common';
import { connectionArgs } from '../lib/node/postgres-tools';
import { runCommand } from '../lib/node/run-command';
import { postJson, WebhookError } from '../lib/notify/post-json';
import { caught } from './helpers/caught';

describe('secret handling', () => {
  it('a notification URL secret that is not a URL is refused without echoing it', async () => {
    const secret = 'hooks-slack-T000-not-a-url-s3cr3t';
    const err = await caught(postJson(secret, { hello: 1 }, 1_000));
    expect(err).toBeInstanceOf(WebhookError);
    expect((err as WebhookError).permanent).toBe(true);
    expect((err as Error).message).not.toContain(secret);
    expect((err as Error).message).toContain('value withheld');
  });

  it('refuses plain http to another host, naming only the host', async () => {
    const err = await caught(postJson('http://hooks.example.com/services/T000/B000/s3cr3t', {}, 1_000));
    expect((err as Error).message).toBe("refusing to send to http://hooks.example.com: notifications go over https (plain http only to this machine's loopback)");
  });

  it("removes a database URL and its password from a command's output; the password goes to the tools' environment, not argv", () => {
    const url = 'postgres://shop:pa55-w0rd@db.internal:5432/shop?sslmode=require';
    const secrets = secretValuesOf([url]);
    expect(redact(`connect ${url} failed; password pa55-w0rd rejected`, secrets)).toBe('connect [redacted] failed; password [redacted] rejected');
    const { dbname, env } = connectionArgs(url);
    expect(dbname).toBe('postgres://shop@db.internal:5432/shop?sslmode=require');
    expect(env).toEqual({ PGPASSWORD: 'pa55-w0rd' });
  });

  it("a node's commands do not inherit the agent's payload keys or Temporal credentials", async () => {
    const saved = { ...process.env };
    const marker = 'k3y-mat3rial-0f-th3-ag3nt';
    Object.assign(process.env, { GANTRY_CODEC_KEYS: 'n1=env:AGENT_KEY_VAR', AGENT_KEY_VAR: marker, TEMPORAL_API_KEY: `api-${marker}`, TEMPORAL_TLS_CLIENT_KEY_PATH: '/etc/agent.key', GANTRY_CODEC_TOKEN: marker });
    try {
      const result = await runCommand(['sh', '-c', 'env | grep -E "^(APP_SETTING|PATH|GANTRY_|AGENT_|TEMPORAL_)"'], { cwd: process.cwd(), env: { APP_SETTING: 'kept' }, timeoutMs: 10_000 });
      const printed = result.tail.join('\n');
      expect(printed).toContain('APP_SETTING=kept');
      expect(printed).toContain('PATH=');
      for (const name of ['GANTRY_CODEC_KEYS', 'AGENT_KEY_VAR', 'TEMPORAL_API_KEY', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'GANTRY_CODEC_TOKEN']) expect(printed).not.toContain(`${name}=`);
      expect(printed).not.toContain(marker);
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });
});
