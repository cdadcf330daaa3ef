/**
 * Expected failures that a user can act on. Bugs stay plain `Error`s.
 *
 * Codes are kebab-case and stable: tests, the CLI's exit path and the RPC layer key on them.
 * Messages are sentence case, quote the bad value, end with a period and say what to do.
 */
export class CoreError extends Error {
  override readonly name = 'CoreError';
  constructor(
    readonly code: string,
    message: string,
    /** Optional machine-readable details (JSON-serialisable), e.g. the nearest feasible plan. */
    readonly details?: unknown,
  ) {
    super(message);
  }

  toJSON(): { code: string; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isCoreError(e: unknown): e is CoreError {
  return e instanceof CoreError || (typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'CoreError');
}
