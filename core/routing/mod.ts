/**
 * Sans-IO call routing for one logical MCP service: which replica takes an
 * attempt, and what to do after each outcome (done, retry elsewhere, hedge,
 * fail with a clear error). It combines the registry's health state machine,
 * the resilience layer's breaker, outlier detection, retry rule and partition
 * rule, and the balancer's strategies and statistics. The gateway and the
 * simulator drive the same router; only the I/O differs.
 *
 * @example
 * ```ts
 * import { SeededRng } from "../rng.ts";
 * import { CallRouter } from "./mod.ts";
 * const router = new CallRouter({
 *   serviceId: "payments",
 *   rng: new SeededRng(7),
 *   replicas: [{ id: "p1", tools: ["pay"] }, { id: "p2", tools: ["pay"] }],
 * });
 * const call = router.open({ toolName: "pay", annotations: { idempotentHint: false } }, 0);
 * const begun = router.begin(call, 0);
 * if (begun.ok) {
 *   const verdict = router.complete(begun.attempt, "unknown", 5_000);
 *   // verdict.kind === "fail": an OutcomeUnknownError, the payment is not sent twice
 * }
 * ```
 *
 * @module
 */
export { type Attempt, type Call, type CallRequest } from "./call.ts";
export {
  type CallEffect,
  CallExecutor,
  type CallExecutorOptions,
  type RoutingFailure,
} from "./call_executor.ts";
export {
  type BeginResult,
  CallRouter,
  type CallRouterOptions,
  MAX_PENDING_ROUTER_EVENTS,
  MAX_REPLICAS_PER_SET,
  type RouterEvent,
  type RouterMetrics,
  type RouterReplica,
  type Verdict,
} from "./call_router.ts";
export {
  CallFailedError,
  type CallFailureReason,
  NoReplicaAvailableError,
  type ReplicaExclusion,
  type ReplicaRoutingState,
  RoutingProtocolError,
} from "./errors.ts";
export {
  ATTEMPT_OUTCOMES,
  type AttemptOutcome,
  type OutcomeEvidence,
  outcomeEvidence,
} from "./outcome.ts";
