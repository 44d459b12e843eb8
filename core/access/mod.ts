/**
 * Identity and access: the {@link Principal} every call carries, and the pure
 * decisions taken about it.
 *
 * @module
 */
export * from "./principal.ts";
export * from "./policy.ts";
export * from "./policy_audit.ts";
