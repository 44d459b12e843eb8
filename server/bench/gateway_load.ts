/**
 * The load generator: one MCP SDK client session per system under test,
 * the same code for every system, driving the `echo` tool closed-loop with a
 * fixed number of calls in flight.
 *
 * @module
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { type PhaseStats, summarisePhase } from "./gateway_stats.ts";

/** Where a client reaches a system: a Streamable HTTP URL or a stdio command. */
export type Endpoint =
  | { kind: "http"; url: string }
  | { kind: "stdio"; command: string; args: string[] };

/** Connects a fresh v2 SDK client session to `endpoint`. */
export async function connectClient(endpoint: Endpoint, timeoutMs: number): Promise<Client> {
  const client = new Client({ name: "safla-gateway-bench", version: "1" });
  const transport = endpoint.kind === "http"
    ? new StreamableHTTPClientTransport(new URL(endpoint.url))
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
  return client;
}

/** The pid of a stdio client's server process, for group cleanup. */
export function stdioServerPid(client: Client): number | undefined {
  const transport = client.transport;
  return transport instanceof StdioClientTransport ? transport.pid ?? undefined : undefined;
}

/** Whether `client`'s server lists `toolName` (on any page, bounded). */
export async function hasTool(client: Client, toolName: string): Promise<boolean> {
  const maxPages = 64;
  let cursor: string | undefined;
  for (let page = 0; page < maxPages; page++) {
    const { tools, nextCursor } = await client.listTools(cursor === undefined ? {} : { cursor });
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

/**
 * Calls `toolName` with a distinct message up to `plan.calls` times, keeping
 * `plan.concurrency` calls in flight, and stops issuing once `plan.maxPhaseMs`
 * has passed. A call counts as ok only if the echo carries its own message.
 */
export async function runEchoPhase(
  client: Client,
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
  let failedCalls = 0;
  let issued = 0;
  const startMs = performance.now();
  const deadlineMs = startMs + plan.maxPhaseMs;
  const worker = async () => {
    while (issued < plan.calls && performance.now() < deadlineMs) {
      const message = `m${issued++}`;
      const callStartMs = performance.now();
      try {
        const result = await client.callTool({ name: toolName, arguments: { message } });
        const latencyMs = performance.now() - callStartMs;
        if (echoed(result, message)) latenciesMs.push(latencyMs);
        else failedCalls++;
      } catch {
        failedCalls++;
      }
    }
  };
  const workers = Math.min(plan.concurrency, Math.max(plan.calls, 1));
  await Promise.all(Array.from({ length: workers }, worker));
  return summarisePhase(latenciesMs, failedCalls, performance.now() - startMs);
}

function echoed(result: unknown, message: string): boolean {
  const content = (result as { content?: unknown; isError?: boolean }).content;
  if (!Array.isArray(content) || (result as { isError?: boolean }).isError === true) return false;
  return content.some((part: { type?: string; text?: unknown }) =>
    part.type === "text" && part.text === `Echo: ${message}`
  );
}
