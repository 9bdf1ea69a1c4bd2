// The CLI takes an environment's name, never a file: the definition lives with the orchestrator.
import { CliExit, ExitCode } from './exit-codes';

export const isEnvironmentName = (value: string) => /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(value) && !/\.ya?ml$/.test(value);

export function requireEnvironmentName(value: string): void {
  if (isEnvironmentName(value)) return;
  const hint = /\.ya?ml$/.test(value) || value.includes('/') ? ' — a file is not accepted: definitions live with the orchestrator (GANTRY_ENVIRONMENTS); check one offline with gantry check <file>' : '';
  throw new CliExit(`<env> "${value}": expected an environment's name, e.g. prod${hint}`, ExitCode.rejected);
}
