/**
 * Raft consensus as a pure state machine in the shape of etcd's RawNode.
 *
 * @module
 */
export type * from "./types.ts";
export type { Rng } from "../rng.ts";
export * from "./entries.ts";
export * from "./storage.ts";
export * from "./log_unstable.ts";
export * from "./log.ts";
export * from "./config.ts";
export * from "./errors.ts";
export * from "./raft.ts";
export * from "./rawnode.ts";
export * from "./quorum/mod.ts";
export * from "./tracker/mod.ts";
export * from "./confchange/mod.ts";
export * from "./read_only.ts";
