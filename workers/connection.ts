// Connection settings follow Temporal's own conventions (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and
// API-key variables, profiles in temporal.toml) through @temporalio/envconfig.
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';

export function connectSettings() {
  const config = loadClientConnectConfig();
  return { connectionOptions: config.connectionOptions, namespace: config.namespace ?? 'default' };
}

export async function connectClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const { connectionOptions, namespace } = connectSettings();
  const connection = await Connection.connect(connectionOptions);
  return { client: new Client({ connection, namespace }), close: () => connection.close() };
}

export async function connectWorker(): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = connectSettings();
  return { connection: await NativeConnection.connect(connectionOptions), namespace };
}
