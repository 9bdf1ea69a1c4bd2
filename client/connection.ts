// Connection settings follow Temporal's own conventions (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and
// API-key variables, profiles in temporal.toml) through @temporalio/envconfig.
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { GantryError } from '../lib/core/errors';
import { clientDataConverter } from './data-converter';

export class ConnectionError extends GantryError {
  override readonly name = 'ConnectionError';
}

export function connectSettings() {
  const config = loadClientConnectConfig();
  return { connectionOptions: config.connectionOptions, namespace: config.namespace ?? 'default' };
}

export async function connectClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const { connectionOptions, namespace } = connectSettings();
  const dataConverter = clientDataConverter();
  const connection = await Connection.connect(connectionOptions).catch((err: unknown) => {
    throw new ConnectionError(
      `cannot reach Temporal at ${connectionOptions.address ?? 'localhost:7233'} (${(err as Error).message}); set TEMPORAL_ADDRESS or a temporal.toml profile`,
    );
  });
  return { client: new Client({ connection, namespace, dataConverter }), close: () => connection.close() };
}
