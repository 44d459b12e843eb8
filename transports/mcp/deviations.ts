/**
 * Backends that bend the spec (DESIGN.md §10): what the gateway accepts from
 * them, and the one log line per deviation per backend that says so. Being
 * liberal here never makes the gateway lax in what it sends: a repaired
 * message is forwarded in its correct form.
 *
 * Tolerated, each logged once per backend:
 * - a 2026-07-28 result without `resultType`: taken as `"complete"`;
 * - newline-delimited JSON (under `application/json` or an NDJSON type) where
 *   an SSE stream belongs: read as that stream (`tolerant_fetch.ts`);
 * - lines on a stdio server's stdout that are not JSON (banners, logs): skipped;
 * - a result that is still invalid: the backend's error (`-32603`, naming it
 *   and what was wrong), never a lost reply.
 *
 * @module
 */
import { ProtocolError, SdkError, SdkErrorCode } from "@modelcontextprotocol/client";

/** Most kinds remembered per backend; beyond it nothing more is logged (a babbling server). */
const MAX_KINDS = 100;

/** Logs each kind of deviation once per backend. */
export class DeviationLog {
  #seen = new Set<string>();

  /** `log` receives whole lines; `label` names the backend in each. */
  constructor(readonly label: string, readonly log: (line: string) => void) {}

  /** Records one deviation of `kind`; only the first of each kind is logged. */
  note(kind: string, detail: string): void {
    if (this.#seen.has(kind) || this.#seen.size >= MAX_KINDS) return;
    this.#seen.add(kind);
    this.log(`${this.label}: deviates from the MCP spec (${kind}): ${detail}`);
  }

  /** The kinds seen so far. */
  get kinds(): string[] {
    return [...this.#seen];
  }
}

/**
 * Fills in what a 2026-07-28 response may leave out and can only mean one
 * thing; mutates `message` (a JSON-RPC response as received) in place.
 */
export function repairModernResponse(message: unknown, deviations: DeviationLog): void {
  if (typeof message !== "object" || message === null) return;
  const m = message as { id?: unknown; method?: unknown; result?: unknown };
  if (m.id === undefined || m.method !== undefined) return;
  const result = m.result;
  if (typeof result !== "object" || result === null || Array.isArray(result)) return;
  if ((result as Record<string, unknown>).resultType === undefined) {
    (result as Record<string, unknown>).resultType = "complete";
    deviations.note("missing-resultType", `a result without "resultType" is taken as "complete"`);
  }
}

/** The JSON-RPC code of an answer the backend got wrong (JSON-RPC "Internal error"). */
export const BACKEND_INVALID_RESULT = -32603;

/**
 * A reply arrived but the SDK refused it: the backend's bug, said as the
 * backend's error (so it neither looks like a lost reply nor counts against
 * the replica as a failed one). Anything else comes back unchanged.
 */
export function invalidResultError(
  error: unknown,
  method: string,
  deviations: DeviationLog,
): unknown {
  if (
    !(error instanceof SdkError) ||
    (error.code !== SdkErrorCode.InvalidResult && error.code !== SdkErrorCode.UnsupportedResultType)
  ) return error;
  const what = error.message.replace(/\s+/g, " ").slice(0, 500);
  deviations.note("invalid-result", what);
  return new ProtocolError(
    BACKEND_INVALID_RESULT,
    `backend ${deviations.label} answered ${method} with an invalid result: ${what}`,
    { backend: deviations.label, method },
  );
}
