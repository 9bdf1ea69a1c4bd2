// The payload codec and its keyring, without a server: what is sealed, what passes, what is refused.
import { defaultPayloadConverter } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EncryptionCodec } from '../client/encryption-codec';
import { parseKeyring } from '../lib/codec/keyring';
import { runGantry } from './helpers/cli';

const key = () => randomBytes(32).toString('base64');
const env = { K1: key(), K2: key(), SHORT: randomBytes(16).toString('base64'), TEXT: 'not base64 at all!' };
const codec = (spec: string) => new EncryptionCodec(parseKeyring(spec, env));

describe('keyring', () => {
  it('takes the first key to encode and every key to decode', () => {
    const ring = parseKeyring('new=env:K2, old=env:K1', env);
    expect(ring.current?.id).toBe('new');
    expect([...ring.byId.keys()]).toEqual(['new', 'old']);
    expect(parseKeyring(undefined).current).toBeUndefined();
  });

  it.each([
    ['k1', /entry 1 is malformed; each entry is id=file:\/path or id=env:VARIABLE/],
    // A raw key pasted without id= (its base64 may hold '='): the message must not carry it.
    [`k2=env:K2,${env.K1}`, /entry 2 is malformed/],
    ['k1=env:MISSING', /key "k1": variable MISSING is not set/],
    ['k1=env:SHORT', /key "k1" from variable SHORT is not 32 bytes in base64/],
    ['k1=env:TEXT', /key "k1" from variable TEXT is not 32 bytes in base64/],
    ['k1=env:K1,k1=env:K2', /key id "k1" appears twice/],
    ['bad id=env:K1', /key id "bad id" must be letters/],
    ['k1=file:/nonexistent/key', /key "k1": cannot read \/nonexistent\/key \(ENOENT\)/],
  ])('refuses %s, saying why without the key material', (spec, message) => {
    expect(() => parseKeyring(spec, env)).toThrow(message);
    try {
      parseKeyring(spec, env);
    } catch (err) {
      for (const value of Object.values(env)) expect((err as Error).message).not.toContain(value);
    }
  });
});

describe('encryption codec', () => {
  const plain = defaultPayloadConverter.toPayload({ password: 'hunter2', release: 'v1' });

  it('seals a payload under the current key and opens it again', async () => {
    const [sealed] = await codec('k1=env:K1').encode([plain]);
    expect(Buffer.from(sealed!.metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(sealed!.metadata!['encryption-key-id']!).toString()).toBe('k1');
    expect(Buffer.from(sealed!.data!).toString('latin1')).not.toContain('hunter2');
    const [opened] = await codec('k1=env:K1').decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(opened!)).toEqual({ password: 'hunter2', release: 'v1' });
  });

  it('uses a fresh nonce each time: the same value seals to different bytes', async () => {
    const [a, b] = await codec('k1=env:K1').encode([plain, plain]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('passes plain payloads through both ways when no key is set, and decodes plain ones with keys', async () => {
    expect(await codec('').encode([plain])).toEqual([plain]);
    expect(await codec('k1=env:K1').decode([plain])).toEqual([plain]);
  });

  it('refuses altered bytes, a relabelled key id and an unknown key, naming the key', async () => {
    const [sealed] = await codec('k1=env:K1').encode([plain]);
    const altered = Buffer.from(sealed!.data!);
    altered[altered.length - 1]! ^= 1;
    await expect(codec('k1=env:K1').decode([{ ...sealed!, data: altered }])).rejects.toThrow(/key "k1": authentication failed/);
    // The same bytes claimed for another key (the id is authenticated data) do not open.
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, 'encryption-key-id': Buffer.from('k2') } };
    await expect(codec('k2=env:K1').decode([relabelled])).rejects.toThrow(/key "k2": authentication failed/);
    await expect(codec('k2=env:K2').decode([sealed!])).rejects.toThrow(/key "k1", which GANTRY_CODEC_KEYS does not hold \(it holds k2\)/);
  });
});

describe('gantry codec-server', () => {
  const base = { ...process.env, GANTRY_CODEC_TOKEN_FILE: '', GANTRY_CODEC_TOKEN: '' };

  it('refuses to start without keys, or without a token, or with a weak one, saying what to set', async () => {
    const noKeys = await runGantry(['codec-server'], { ...base, GANTRY_CODEC_KEYS: '' });
    expect(noKeys.code).not.toBe(0);
    expect(noKeys.stderr).toContain('GANTRY_CODEC_KEYS is unset: there is nothing to decode with');
    const keys = `k1=env:K1`;
    const noToken = await runGantry(['codec-server'], { ...base, GANTRY_CODEC_KEYS: keys, K1: env.K1 });
    expect(noToken.code).not.toBe(0);
    expect(noToken.stderr).toContain('the codec server needs a bearer token: set GANTRY_CODEC_TOKEN_FILE');
    const weakToken = 'Wk7qZ!x';
    const weak = await runGantry(['codec-server'], { ...base, GANTRY_CODEC_KEYS: keys, K1: env.K1, GANTRY_CODEC_TOKEN: weakToken });
    expect(weak.code).not.toBe(0);
    expect(weak.stderr).toContain('GANTRY_CODEC_TOKEN: the token must be at least 16 URL-safe characters');
    expect(weak.stderr).not.toContain(weakToken);
    const badKey = await runGantry(['codec-server'], { ...base, GANTRY_CODEC_KEYS: 'k1=env:TEXT', TEXT: env.TEXT });
    expect(badKey.stderr).toContain('key "k1" from variable TEXT is not 32 bytes in base64');
    expect(badKey.stderr).not.toContain(env.TEXT);
  });
});
