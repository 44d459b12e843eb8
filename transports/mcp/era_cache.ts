/**
 * The protocol era of each backend, probed once and remembered. A probe costs
 * a round trip (and, for stdio, a short-lived sibling process), so reconnects
 * and replicas of the same server reuse the answer. A connect that fails with
 * a cached answer drops it, so a server that changed era is probed again.
 *
 * @module
 */
import type { DiscoverResult } from "@modelcontextprotocol/server";
import type { BackendSpec } from "./backend.ts";

/**
 * What a previous connection learned about a server's era, in the form the
 * SDK client accepts to skip negotiation: a 2026-07-28 server's `server/discover`
 * result (zero round trips, no probe process), or "legacy" (straight to the
 * 2025 `initialize` handshake).
 */
export type PriorDiscovery = { kind: "modern"; discover: DiscoverResult } | { kind: "legacy" };

/** Maps a backend identity to what its era probe found. */
export type EraCache = Map<string, PriorDiscovery>;

/** The identity under which a backend's era is cached. */
export function eraKey(spec: BackendSpec): string {
  return spec.kind === "stdio"
    ? `stdio:${JSON.stringify([spec.command, ...spec.args])}`
    : `${spec.kind}:${spec.url}`;
}
