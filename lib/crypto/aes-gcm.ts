// AES-256-GCM sealing. Each message gets a fresh random 96-bit nonce (the GCM standard size), and
// the 128-bit tag is appended; the associated data binds a ciphertext to its label (the key id), so a
// payload relabelled with another key fails to open instead of decrypting under the wrong key.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** nonce ‖ ciphertext ‖ tag */
export function seal(key: Buffer, plaintext: Uint8Array, associatedData: Uint8Array): Buffer {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

export class SealError extends Error {
  override readonly name = 'SealError';
}

/** The plaintext, or SealError when the bytes were altered, truncated or sealed under another key. */
export function open(key: Buffer, sealed: Uint8Array, associatedData: Uint8Array): Buffer {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new SealError(`sealed message of ${sealed.length} bytes is shorter than a nonce and a tag`);
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(associatedData);
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SealError('authentication failed: the bytes were altered or sealed under other key material');
  }
}
