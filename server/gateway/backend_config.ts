/**
 * The per-service keys of the config that tune how the gateway talks to a
 * backend (start budget, protocol era), parsed apart from `server/config.ts`
 * so that file only spreads them into each service.
 *
 * @module
 */

/** How a service's backend is started and spoken to. */
export interface BackendServiceOptions {
  /**
   * Budget of a replica's connects until it was first ready; unset: the
   * gateway's `startTimeoutMs`.
   */
  startTimeoutMs?: number;
}

/** The service keys {@link parseBackendKeys} reads. */
export const BACKEND_SERVICE_KEYS = ["startTimeoutMs"] as const;

/** Longest start budget accepted: an hour is already far beyond any install. */
const MAX_START_TIMEOUT_MS = 3_600_000;

/** Reads the backend keys of one service entry `s` (at config path `key`). */
export function parseBackendKeys(
  s: Record<string, unknown>,
  key: string,
  fail: (key: string, problem: string) => never,
): BackendServiceOptions {
  const out: BackendServiceOptions = {};
  const start = s.startTimeoutMs;
  if (start !== undefined) {
    if (
      typeof start !== "number" || !Number.isInteger(start) || start < 1 ||
      start > MAX_START_TIMEOUT_MS
    ) {
      fail(
        `${key}.startTimeoutMs`,
        `must be an integer from 1 to ${MAX_START_TIMEOUT_MS}, got ${JSON.stringify(start)}`,
      );
    }
    out.startTimeoutMs = start as number;
  }
  return out;
}
