/**
 * Whether a tool call may run more than once. MCP tool annotations say so: a tool
 * marked `readOnlyHint` has no effects, and one marked `idempotentHint` has no
 * further effect when repeated with the same arguments. Every retry, fail-over
 * after sending and hedge in the gateway goes through {@link mayRunTwice}.
 *
 * @module
 */

/**
 * The MCP tool annotations that decide repeat safety. The registry's full
 * `ToolAnnotations` object satisfies this shape.
 */
export interface ToolSafetyHints {
  /** The tool does not modify its environment. */
  readonly readOnlyHint?: boolean;
  /** Calling the tool again with the same arguments has no additional effect. */
  readonly idempotentHint?: boolean;
  /** The tool may perform destructive updates (informational here). */
  readonly destructiveHint?: boolean;
}

/**
 * True when a call to a tool with these annotations may execute twice without
 * harm: `readOnlyHint: true` or `idempotentHint: true`. Missing annotations mean
 * "not safe" — the MCP defaults assume a tool has effects and is not idempotent.
 *
 * @example
 * ```ts
 * import { mayRunTwice } from "@safla/core";
 * mayRunTwice({ readOnlyHint: true }); // true
 * mayRunTwice({ idempotentHint: true }); // true
 * mayRunTwice({ destructiveHint: false }); // false
 * mayRunTwice(undefined); // false
 * ```
 */
export function mayRunTwice(hints: ToolSafetyHints | undefined): boolean {
  return hints?.readOnlyHint === true || hints?.idempotentHint === true;
}
