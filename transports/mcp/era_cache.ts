/**
 * The protocol era of each backend, probed once and remembered. A probe costs
 * a round trip (and, for stdio, a short-lived sibling process), so reconnects
 * and replicas of the same server reuse the answer.
 *
 * @module
 */
import type { BackendSpec } from "./backend.ts";

/**
 * Maps a backend identity to `"legacy"` (2025 session) or the modern protocol
 * version it negotiated, e.g. `"2026-07-28"`.
 */
export type EraCache = Map<string, string>;

/** The identity under which a backend's era is cached. */
export function eraKey(spec: BackendSpec): string {
  return spec.kind === "stdio"
    ? `stdio:${JSON.stringify([spec.command, ...spec.args])}`
    : `${spec.kind}:${spec.url}`;
}
