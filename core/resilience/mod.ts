/**
 * Resilience rules for calls to MCP backends, as pure state machines and
 * decisions: circuit breaker, outlier ejection, retry budget and the retry rule
 * gated on tool annotations, and the minority-partition rule. Time comes in as an
 * argument; transitions and ejections come out as data.
 *
 * @example
 * ```ts
 * import { retryDecision } from "@safla/core";
 * const decision = retryDecision({ annotations: {}, attempt: 1, outcome: "unknown" });
 * if (!decision.retry && decision.error) {
 *   // return decision.error to the client: the call may have run, it was not repeated
 * }
 * ```
 *
 * @module
 */
export * from "./tool_safety.ts";
export * from "./retry.ts";
export * from "./partition.ts";
export * from "./circuit_breaker.ts";
export * from "./outlier.ts";
