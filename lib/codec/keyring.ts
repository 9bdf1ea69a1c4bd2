// The payload codec's keys, from GANTRY_CODEC_KEYS: `id=file:/path` or `id=env:VARIABLE` entries,
// comma-separated, newest first. The first encodes; every one decodes, so a rotation adds the new key
// in front and keeps the old ones for as long as histories written with them are read.
import { readFileSync } from 'node:fs';
import { KEY_BYTES } from '../crypto/aes-gcm';
import { InputError } from '../core/errors';

export interface CodecKey {
  id: string;
  material: Buffer;
}

export interface Keyring {
  /** The newest key; undefined when none is configured (payloads then go to Temporal in clear). */
  current: CodecKey | undefined;
  byId: ReadonlyMap<string, CodecKey>;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HINT = 'each entry is id=file:/path or id=env:VARIABLE, holding 32 random bytes in base64 (openssl rand -base64 32)';

export function parseKeyring(spec: string | undefined, env: NodeJS.ProcessEnv = process.env, read = (file: string) => readFileSync(file, 'utf8')): Keyring {
  const byId = new Map<string, CodecKey>();
  let current: CodecKey | undefined;
  const entries = (spec ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const match = /^([^=]+)=(file|env):(.+)$/.exec(entry);
    // Named by position: a malformed entry may be a raw key pasted without its id, never to be echoed.
    if (!match) throw new InputError(`GANTRY_CODEC_KEYS: entry ${index + 1} is malformed; ${HINT}`);
    const [, id, kind, where] = match as unknown as [string, string, 'file' | 'env', string];
    if (!ID.test(id)) throw new InputError(`GANTRY_CODEC_KEYS: key id "${id}" must be letters, digits, '.', '_' or '-' (at most 64)`);
    if (byId.has(id)) throw new InputError(`GANTRY_CODEC_KEYS: key id "${id}" appears twice; give each key its own id`);
    const key = { id, material: material(id, kind, where, env, read) };
    byId.set(id, key);
    current ??= key;
  }
  return { current, byId };
}

/** The key's bytes; errors say where it was looked for and what is wrong, never what it holds. */
function material(id: string, kind: 'file' | 'env', where: string, env: NodeJS.ProcessEnv, read: (file: string) => string): Buffer {
  let text: string | undefined;
  if (kind === 'env') {
    text = env[where];
    if (!text) throw new InputError(`GANTRY_CODEC_KEYS: key "${id}": variable ${where} is not set`);
  } else {
    try {
      text = read(where);
    } catch (err) {
      throw new InputError(`GANTRY_CODEC_KEYS: key "${id}": cannot read ${where} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const trimmed = text.trim();
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, 'base64') : Buffer.alloc(0);
  if (bytes.length !== KEY_BYTES) {
    throw new InputError(`GANTRY_CODEC_KEYS: key "${id}" from ${kind === 'env' ? `variable ${where}` : where} is not ${KEY_BYTES} bytes in base64; ${HINT}`);
  }
  return bytes;
}
