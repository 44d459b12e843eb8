/**
 * What the peer transport tests share: the cluster secret they use, the
 * options of a transport on a loopback port, and a heartbeat to send.
 *
 * @module
 */
import type { Message } from "@safla/core";
import type { PeerTransportOptions } from "./peer_transport.ts";

/** The cluster secret of every test transport. */
export const TEST_SECRET = "test-cluster-secret-0123456789";

/** Options of a transport for node `nodeId` on a free loopback port, with `overrides`. */
export function transportOptions(
  nodeId: string,
  overrides: Partial<PeerTransportOptions> = {},
): PeerTransportOptions {
  return {
    nodeId,
    clusterId: "test",
    secret: TEST_SECRET,
    hostname: "127.0.0.1",
    port: 0,
    peers: {},
    onMessages: () => {},
    ...overrides,
  };
}

/** A heartbeat from `from` to `to` carrying `commit`. */
export function heartbeat(from: string, to: string, commit = 0): Message {
  return {
    type: "heartbeat",
    from,
    to,
    term: 1,
    logTerm: 0,
    index: 0,
    commit,
    reject: false,
    rejectHint: 0,
    entries: [],
  };
}
