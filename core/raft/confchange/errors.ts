/**
 * The error of invalid membership changes.
 *
 * @module
 */

/** Thrown when a membership change is invalid, malformed, or breaks a configuration invariant. */
export class ConfChangeError extends Error {
  /** Creates the error with a message saying what is wrong with the change. */
  constructor(message: string) {
    super(message);
    this.name = "ConfChangeError";
  }
}
