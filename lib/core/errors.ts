// Named errors the CLI maps to exit codes and one-line messages.

export class GantryError extends Error {
  override readonly name: string = 'GantryError';
}

/** Bad user input: a config file, a flag, a payload. */
export class InputError extends GantryError {
  override readonly name: string = 'InputError';
}
