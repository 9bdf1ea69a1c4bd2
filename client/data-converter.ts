// How every Gantry process (CLI, webhook, orchestrator worker, agents, codec server) turns values into
// Temporal payloads: the default JSON converter, then the encryption codec keyed by GANTRY_CODEC_KEYS,
// with failure messages encoded too. Every process of one installation needs the same keys.
import { DefaultFailureConverter, defaultPayloadConverter, type DataConverter, type LoadedDataConverter } from '@temporalio/common';
import { fileURLToPath } from 'node:url';
import { EncryptionCodec } from './encryption-codec';
import { parseKeyring } from '../lib/codec/keyring';
import { setting } from '../lib/config/settings';

/** Beside this module in a checkout, and beside dist/gantry.mjs in a production build. */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

let cached: { spec: string | undefined; codec: EncryptionCodec } | undefined;

/** The codec for the keys GANTRY_CODEC_KEYS names now (read again when the setting changes). */
export function payloadCodec(): EncryptionCodec {
  const spec = setting('GANTRY_CODEC_KEYS');
  if (!cached || cached.spec !== spec) cached = { spec, codec: new EncryptionCodec(parseKeyring(spec)) };
  return cached.codec;
}

/** For `new Client({ dataConverter })`. */
export function clientDataConverter(): LoadedDataConverter {
  return {
    payloadConverter: defaultPayloadConverter,
    failureConverter: new DefaultFailureConverter({ encodeCommonAttributes: true }),
    payloadCodecs: [payloadCodec()],
  };
}

/** For `Worker.create({ dataConverter })`; its workflow bundle must be built with FAILURE_CONVERTER_PATH too. */
export function workerDataConverter(): DataConverter {
  return { failureConverterPath: FAILURE_CONVERTER_PATH, payloadCodecs: [payloadCodec()] };
}
