/**
 * The peer transport: Raft messages between gateway nodes over authenticated TCP.
 *
 * @module
 */
export * from "./codec.ts";
export * from "./peer_transport.ts";
export { loadPeerTls, type PeerTls, PeerTlsError, type PeerTlsFiles } from "./peer_tls.ts";
export { deriveFromSecret } from "./auth.ts";
