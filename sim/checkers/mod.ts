/**
 * The simulator's checkers, pure functions and classes over data:
 *
 * - {@link RaftSafetyChecker}: fed one node's view after every event, it
 *   checks Election Safety, Leader Append-Only, Log Matching (on committed
 *   prefixes), Leader Completeness, State Machine Safety, and that term,
 *   commit and applied never go back or run past what exists. Call
 *   `restarted(id, durable)` when a node comes back from a crash.
 * - {@link checkKvHistory}: linearizability of a client history of KV
 *   operations, key by key: a Porcupine-style search with a step budget,
 *   after a fast unique-value argument that catches stale reads, lost
 *   writes and writes applied twice in any history size.
 *   Record timed-out writes as indeterminate (no `completeTime`, no
 *   `output`), never as failed; leave out requests refused for certain.
 * - {@link LivenessChecker}: after the heal, one leader acknowledged by a
 *   quorum and converged logs within a bound of ticks.
 *
 * @module
 */
export * from "./raft_safety.ts";
export * from "./linearizability.ts";
export * from "./kv_model.ts";
export * from "./kv_read_witness.ts";
export * from "./liveness.ts";
export type { HardState, NodeId, RaftRole } from "@safla/core/raft";
