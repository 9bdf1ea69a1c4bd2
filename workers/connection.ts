// The workers' connection to Temporal, with the same settings every client uses (client/connection.ts).
import { NativeConnection } from '@temporalio/worker';
import { connectSettings } from '../client/connection';

export async function connectWorker(): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = connectSettings();
  return { connection: await NativeConnection.connect(connectionOptions), namespace };
}
