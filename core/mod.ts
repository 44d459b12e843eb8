/**
 * SAFLA core: the pure, I/O-free heart of the gateway cluster. The Raft state
 * machine, the replicated state machine, the service registry, balancer
 * strategies and resilience logic. Time and randomness come in as arguments;
 * effects go out as data.
 *
 * @module
 */
export * from "./rng.ts";
export * from "./defaults.ts";
export * from "./crc32.ts";
export * from "./config_error.ts";
export * from "./raft/mod.ts";
export * from "./wal/mod.ts";
export * from "./state/mod.ts";
export * from "./registry/mod.ts";
export * from "./balancer/mod.ts";
export * from "./resilience/mod.ts";
export * from "./node/mod.ts";
export * from "./routing/mod.ts";
export * from "./access/mod.ts";
