import type { Payload } from '@temporalio/common';
import { payloadCodec } from '../../client/data-converter';

/** The JSON value in a payload read from raw history: decrypted with the run's keys first (plain ones pass). */
export async function payloadJson<T = unknown>(payload: Payload | null | undefined): Promise<T> {
  if (!payload) throw new Error('no payload');
  const [plain] = await payloadCodec().decode([payload]);
  return JSON.parse(Buffer.from(plain!.data ?? new Uint8Array()).toString('utf8')) as T;
}
