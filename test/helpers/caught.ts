/** The error a promise rejects with, or undefined when it resolves: for asserting on failures. */
export function caught(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  );
}
