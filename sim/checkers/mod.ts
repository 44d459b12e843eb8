/**
 * The simulator's checkers: Raft safety after every event, linearizability
 * of client histories, and liveness after the faults heal. Pure functions
 * and classes over data.
 *
 * @module
 */
export * from "./raft_safety.ts";
export * from "./linearizability.ts";
export * from "./kv_model.ts";
export * from "./liveness.ts";
