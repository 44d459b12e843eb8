/**
 * Raft consensus as a pure state machine in the shape of etcd's RawNode.
 *
 * @module
 */
export type * from "./types.ts";
export * from "./entries.ts";
export * from "./storage.ts";
export * from "./log_unstable.ts";
export * from "./log.ts";
