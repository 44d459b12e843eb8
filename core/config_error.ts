/**
 * The one error for an invalid setting, whatever it configures (a Raft node,
 * the gateway's config file), so a caller catches one type and the user reads
 * one shape of message: where the setting came from, which it is, what is wrong.
 *
 * @example
 * ```ts
 * import { ConfigError } from "@safla/core";
 * const error = new ConfigError("gateway.json", "gateway.timeoutMs", "must be a positive integer");
 * console.assert(error.message === "gateway.json: gateway.timeoutMs: must be a positive integer");
 * ```
 *
 * @module
 */

/** A setting is invalid: `source` says where it came from, `field` names it, `problem` says why. */
export class ConfigError extends Error {
  /** Creates the error. `source` is a file path, or the component configured in code. */
  constructor(readonly source: string, readonly field: string, readonly problem: string) {
    super(`${source}: ${field}: ${problem}`);
    this.name = "ConfigError";
  }
}
