/**
 * WritError — the one base class of Writ's errors, with a stable `code` (as `jose` has
 * `JOSEError`): code that handles an error tests `err instanceof WritError` and switches on
 * `err.code`, never on a message, which is for people and may change.
 *
 * Standalone (no imports) so `writ/verify` can use it without pulling in anything.
 */

/** An error Writ raises on purpose. `code` is stable: never renamed, only added. */
export class WritError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'WritError';
    this.code = code;
  }
}
