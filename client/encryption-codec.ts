// The payload codec: every payload a Gantry process hands to Temporal (inputs, results, signals,
// queries, memos, user metadata, failure messages) is sealed with AES-256-GCM under the keyring's
// newest key; the key id travels in the payload's metadata so any configured key decodes it. Payloads
// that are not encrypted (histories from before the codec, `temporal workflow signal` input) pass
// through unchanged, so turning the codec on needs no migration.
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';
import { open, seal, SealError } from '../lib/crypto/aes-gcm';
import type { Keyring } from '../lib/codec/keyring';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const PayloadMessage = proto.temporal.api.common.v1.Payload;
const utf8 = new TextEncoder();
const text = new TextDecoder();

export class CodecError extends Error {
  override readonly name = 'CodecError';
}

/** The work is synchronous, but a thrown error must reach the caller as a rejection. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keyring: Keyring) {}

  get encrypting(): boolean {
    return this.keyring.current !== undefined;
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keyring.current;
    if (!key) return Promise.resolve(payloads);
    const id = utf8.encode(key.id);
    return settle(() =>
      payloads.map((payload) => ({
        metadata: { encoding: utf8.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: id },
        data: seal(key.material, PayloadMessage.encode(payload).finish(), id),
      })),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return settle(() => payloads.map((payload) => this.decodeOne(payload)));
  }

  /** Whether the payload is one this codec sealed (with any key). */
  static isEncrypted(payload: Payload): boolean {
    const encoding = payload.metadata?.encoding;
    return encoding !== undefined && encoding !== null && text.decode(encoding) === ENCRYPTED_ENCODING;
  }

  private decodeOne(payload: Payload): Payload {
    if (!EncryptionCodec.isEncrypted(payload)) return payload;
    const idBytes = payload.metadata?.[KEY_ID_METADATA];
    if (!idBytes) throw new CodecError(`an encrypted payload carries no ${KEY_ID_METADATA}; it was not written by Gantry's codec`);
    const id = text.decode(idBytes);
    const key = this.keyring.byId.get(id);
    if (!key) {
      const known = [...this.keyring.byId.keys()];
      throw new CodecError(`payload encrypted with key "${id}", which GANTRY_CODEC_KEYS does not hold (${known.length ? `it holds ${known.join(', ')}` : 'it is unset'}); add that key to decode it`);
    }
    try {
      return PayloadMessage.decode(open(key.material, payload.data ?? new Uint8Array(), idBytes));
    } catch (err) {
      if (err instanceof SealError) throw new CodecError(`payload encrypted with key "${id}": ${err.message}`);
      throw err;
    }
  }
}
