// Secrets are named in config (a variable or a file on the worker) and read only when used, so they
// never travel through workflow inputs or history.
import { readFile } from 'node:fs/promises';

export interface SecretRef {
  fromEnv?: string;
  fromFile?: string;
}

export class SecretError extends Error {
  override readonly name = 'SecretError';
}

export async function readSecret(ref: SecretRef, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (ref.fromEnv) {
    const value = env[ref.fromEnv];
    if (!value) throw new SecretError(`variable ${ref.fromEnv} is not set on the worker`);
    return value.trim();
  }
  if (ref.fromFile) {
    const value = await readFile(ref.fromFile, 'utf8').catch((err: Error) => {
      throw new SecretError(`cannot read ${ref.fromFile}: ${err.message}`);
    });
    return value.trim();
  }
  throw new SecretError('no secret source given');
}
