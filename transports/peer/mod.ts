/**
 * The peer transport: Raft messages between gateway nodes over authenticated TCP.
 *
 * @module
 */
export * from "./codec.ts";
export * from "./peer_transport.ts";
export { deriveFromSecret } from "./auth.ts";
