/**
 * A recording KV client for tests and benches against node processes: each
 * operation goes to the admin API of a chosen node and lands in a history in
 * the form the simulator's linearizability checker reads.
 *
 * Outcome rules: a 200 is a completed operation; a refused connection or a
 * 503 (no leader took it) never applied and is left out; anything else
 * (504, a timeout, a reset connection) is indeterminate for a write: it
 * stays in the history with no completion, as the checker expects.
 * Connections are never reused: on a pooled connection the HTTP client may
 * resend a delivered request and then report "refused".
 *
 * @module
 */
import type { KvOperation } from "@safla/sim/checkers";
import { isConnectFailure } from "../../store/raft/errors.ts";

/** What happened to one request. */
export type Outcome = "ok" | "notApplied" | "unknown";

/** A client history shared by several logical clients. */
export class KvHistory {
  readonly operations: KvOperation[] = [];
  /** Counts of outcomes, for reporting. */
  readonly counts: Record<Outcome, number> = { ok: 0, notApplied: 0, unknown: 0 };
  readonly #t0 = performance.now();
  readonly #client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  readonly #adminToken: string;

  /** A history of calls made with `adminToken` (the admin API's credential). */
  constructor(adminToken: string) {
    this.#adminToken = adminToken;
  }

  /** Microseconds since the history started. */
  now(): number {
    return Math.round((performance.now() - this.#t0) * 1000);
  }

  /** Writes `value` at `key` through `url`; records the operation. */
  async put(
    clientId: number,
    url: string,
    key: string,
    value: string,
    timeoutMs: number,
  ): Promise<Outcome> {
    const invokeTime = this.now();
    const outcome = await request(this.#client, `${url}/admin/kv/${key}`, timeoutMs, {
      method: "PUT",
      headers: { ...this.#auth(), "content-type": "application/json" },
      body: JSON.stringify({ value }),
    });
    this.counts[outcome.kind]++;
    if (outcome.kind === "notApplied") return outcome.kind;
    this.operations.push({
      clientId,
      key,
      input: { op: "put", value },
      output: outcome.kind === "ok" ? {} : undefined,
      invokeTime,
      completeTime: outcome.kind === "ok" ? this.now() : undefined,
    });
    return outcome.kind;
  }

  /** Reads `key` linearizably through `url`; records the operation if it completed. */
  async get(clientId: number, url: string, key: string, timeoutMs: number): Promise<Outcome> {
    const invokeTime = this.now();
    const outcome = await request(this.#client, `${url}/admin/kv/${key}`, timeoutMs, {
      headers: this.#auth(),
    });
    this.counts[outcome.kind]++;
    if (outcome.kind !== "ok") return outcome.kind;
    const kv = (outcome.body as { kv?: { value: string } }).kv;
    this.operations.push({
      clientId,
      key,
      input: { op: "get" },
      output: { value: kv ? kv.value : null },
      invokeTime,
      completeTime: this.now(),
    });
    return outcome.kind;
  }

  #auth(): Record<string, string> {
    return { authorization: `Bearer ${this.#adminToken}` };
  }

  /** Releases the HTTP client. */
  close(): void {
    this.#client.close();
  }
}

async function request(
  client: Deno.HttpClient,
  url: string,
  timeoutMs: number,
  init: RequestInit = {},
): Promise<{ kind: Outcome; body?: unknown }> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, client, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    return { kind: isConnectFailure(error) ? "notApplied" : "unknown" };
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    return { kind: "unknown" };
  }
  // A missing key is a completed read of "absent".
  if (response.status === 200 || (response.status === 404 && init.method === undefined)) {
    return { kind: "ok", body };
  }
  if (response.status === 503) return { kind: "notApplied" };
  return { kind: "unknown", body };
}
