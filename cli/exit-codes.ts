// Documented exit codes of the `gantry` command.
export const ExitCode = {
  ok: 0,
  /** Unexpected error (connection refused, bug). */
  error: 1,
  /** The deployment failed. */
  failed: 2,
  /** The deployment was aborted. */
  aborted: 3,
  /** Rejected before starting: invalid input, or another deployment is running. */
  rejected: 4,
  /** Aborted, but the undo failed on some node: the fleet is not where it was (see undoFailures). */
  abortedIncomplete: 5,
  /** Live, every node healthy on the release, but the contract migration failed: nothing was rolled back onto a half-contracted schema. */
  contractFailed: 6,
} as const;

/** An error that ends the command with a given exit code and a one-line message. */
export class CliExit extends Error {
  override readonly name = 'CliExit';
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}
