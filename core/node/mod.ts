/**
 * The gateway cluster node as a sans-IO state machine: events in, effects
 * out. The simulator and the real transports are two drivers of this code.
 *
 * @module
 */
export * from "./types.ts";
export * from "./envelope.ts";
export * from "./node.ts";
export * from "./snapshot_transfer.ts";
export type * from "./raft_core.ts";
export * from "./durability.ts";
export * from "./kv_state_machine.ts";
