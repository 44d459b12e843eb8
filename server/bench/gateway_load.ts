/**
 * The load generator: one client session per system under test, the same
 * code for every system, driving the `echo` tool closed-loop with a fixed
 * number of calls in flight. Two clients: the lean one (default), cheap
 * enough that the systems rather than the client are measured, and the v2
 * SDK `Client`, to compare with what an SDK user sees.
 *
 * @module
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { LeanHttpSession, LeanStdioSession } from "./gateway_lean_client.ts";
import { type PhaseStats, summarisePhase } from "./gateway_stats.ts";

/** Where a client reaches a system: a Streamable HTTP URL or a stdio command. */
export type Endpoint =
  | { kind: "http"; url: string; headers?: Record<string, string> }
  | { kind: "stdio"; command: string; args: string[] };

/**
 * Which client drives the load: the lean one, the v2 SDK `Client` declaring
 * nothing, or the SDK `Client` declaring roots and sampling as desktop
 * clients do (`sdk-capable`; it answers roots with none and refuses sampling).
 */
export const CLIENT_KINDS = ["lean", "sdk", "sdk-capable"] as const;
/** One of {@link CLIENT_KINDS}. */
export type ClientKind = typeof CLIENT_KINDS[number];

/** What the load generator needs of a client session. */
export interface LoadClient {
  /** Calls a tool; resolves with its result, rejects on any failure. */
  callTool(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<unknown>;
  /** One page of the tool list. */
  listTools(cursor?: string): Promise<{ tools: { name: string }[]; nextCursor?: string }>;
  /** Ends the session (and a spawned stdio server). */
  close(): Promise<void>;
  /** The pid of a stdio client's server process, for group cleanup. */
  readonly serverPid: number | undefined;
}

/** Connects a fresh client session of `kind` to `endpoint`. */
export async function connectClient(
  endpoint: Endpoint,
  kind: ClientKind,
  timeoutMs: number,
): Promise<LoadClient> {
  return kind === "lean"
    ? await connectLean(endpoint, timeoutMs)
    : await connectSdk(endpoint, timeoutMs, kind === "sdk-capable");
}

async function connectLean(endpoint: Endpoint, timeoutMs: number): Promise<LoadClient> {
  const signal = AbortSignal.timeout(timeoutMs);
  const session = endpoint.kind === "http"
    ? await LeanHttpSession.connect(endpoint.url, signal, endpoint.headers)
    : await LeanStdioSession.connect(endpoint.command, endpoint.args, signal);
  return {
    callTool: (name, args, callSignal) =>
      session.request("tools/call", { name, arguments: args }, callSignal),
    listTools: async (cursor) =>
      await session.request("tools/list", cursor === undefined ? {} : { cursor }) as {
        tools: { name: string }[];
        nextCursor?: string;
      },
    close: () => session.close(),
    serverPid: session instanceof LeanStdioSession ? session.pid : undefined,
  };
}

async function connectSdk(
  endpoint: Endpoint,
  timeoutMs: number,
  capable: boolean,
): Promise<LoadClient> {
  const client = new Client(
    { name: "safla-gateway-bench", version: "1" },
    capable ? { capabilities: { roots: { listChanged: true }, sampling: {} } } : undefined,
  );
  if (capable) {
    client.setRequestHandler("roots/list", () => ({ roots: [] }));
    client.setRequestHandler("sampling/createMessage", () => {
      throw new Error("the benchmark does not sample");
    });
  }
  const transport = endpoint.kind === "http"
    ? new StreamableHTTPClientTransport(new URL(endpoint.url), {
      requestInit: { headers: endpoint.headers },
    })
    : new StdioClientTransport({
      command: endpoint.command,
      args: endpoint.args,
      stderr: "ignore",
    });
  try {
    await client.connect(transport, { timeout: timeoutMs });
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
  return {
    callTool: (name, args, signal) =>
      client.callTool({ name, arguments: args }, signal === undefined ? undefined : { signal }),
    listTools: (cursor) => client.listTools(cursor === undefined ? {} : { cursor }),
    close: () => client.close(),
    serverPid: transport instanceof StdioClientTransport ? transport.pid ?? undefined : undefined,
  };
}

/** Whether `client`'s server lists `toolName` (on any page, bounded). */
export async function hasTool(client: LoadClient, toolName: string): Promise<boolean> {
  const maxPages = 64;
  let cursor: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const { tools, nextCursor } = await client.listTools(cursor);
    if (tools.some((tool) => tool.name === toolName)) return true;
    if (nextCursor === undefined) return false;
    cursor = nextCursor;
  }
  return false;
}

/** One load phase: how many calls, how many in flight, and a wall-time bound. */
export interface PhasePlan {
  calls: number;
  concurrency: number;
  maxPhaseMs: number;
}

/** Distinct failure reasons kept per phase; further ones count as "other". */
const MAX_FAILURE_REASONS = 16;

/** Calls still in flight this long after a phase's deadline are aborted and count as failed. */
export const PHASE_GRACE_MS = 10_000;

/**
 * Calls `toolName` with a distinct message up to `plan.calls` times, keeping
 * `plan.concurrency` calls in flight, and stops issuing once `plan.maxPhaseMs`
 * has passed. A call counts as ok only if the echo carries its own message;
 * a failed call's reason is counted in the phase's `failureReasons`.
 */
export async function runEchoPhase(
  client: LoadClient,
  toolName: string,
  plan: PhasePlan,
): Promise<PhaseStats> {
  if (!(Number.isInteger(plan.calls) && plan.calls >= 0)) {
    throw new RangeError(`calls must be a non-negative integer, got ${plan.calls}`);
  }
  if (!(Number.isInteger(plan.concurrency) && plan.concurrency >= 1)) {
    throw new RangeError(`concurrency must be a positive integer, got ${plan.concurrency}`);
  }
  const latenciesMs: number[] = [];
  const failureReasons = new Map<string, number>();
  const fail = (reason: string) => {
    const key = failureReasons.has(reason) || failureReasons.size < MAX_FAILURE_REASONS
      ? reason
      : "other";
    failureReasons.set(key, (failureReasons.get(key) ?? 0) + 1);
  };
  let issued = 0;
  const startMs = performance.now();
  const deadlineMs = startMs + plan.maxPhaseMs;
  // One timer for the whole phase, not one per call: a stuck call cannot hold the phase forever.
  const stuck = new AbortController();
  const stuckTimer = setTimeout(
    () => stuck.abort(new Error("call outlived the phase")),
    plan.maxPhaseMs + PHASE_GRACE_MS,
  );
  const worker = async () => {
    while (issued < plan.calls && performance.now() < deadlineMs) {
      const message = `m${issued++}`;
      const callStartMs = performance.now();
      try {
        const result = await client.callTool(toolName, { message }, stuck.signal);
        const latencyMs = performance.now() - callStartMs;
        const wrong = echoMismatch(result, message);
        if (wrong === undefined) latenciesMs.push(latencyMs);
        else fail(wrong);
      } catch (error) {
        fail(error instanceof Error ? error.message : String(error));
      }
    }
  };
  try {
    const workers = Math.min(plan.concurrency, Math.max(plan.calls, 1));
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    clearTimeout(stuckTimer);
  }
  const failedCalls = [...failureReasons.values()].reduce((a, b) => a + b, 0);
  return summarisePhase(
    latenciesMs,
    failedCalls,
    performance.now() - startMs,
    Object.fromEntries(failureReasons),
  );
}

/** Why `result` is not the echo of `message`, or undefined if it is. */
function echoMismatch(result: unknown, message: string): string | undefined {
  if (typeof result !== "object" || result === null) return "result is not an object";
  const { content, isError } = result as { content?: unknown; isError?: unknown };
  if (isError === true) return "tool error (isError)";
  if (!Array.isArray(content)) return "result has no content array";
  const expected = `Echo: ${message}`;
  const ok = content.some((part: { type?: unknown; text?: unknown }) =>
    part?.type === "text" && part.text === expected
  );
  return ok ? undefined : "echo does not carry the call's message";
}
