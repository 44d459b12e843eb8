/**
 * CPU per 2025 `tools/call` spent in the HTTP front alone: the Hono app
 * (guard, body, routes, the session, the direct lane or the SDK `Server`)
 * served in-process, with a gateway whose forwarding answers at once. No
 * processes, no sockets, so the figure is steady on a busy machine where
 * the end-to-end bench (gateway_vs_peers.ts) is not, and tells whether a
 * change to the front costs anything.
 *
 *     deno run -A server/bench/front_cpu.ts [--calls 2000] [--rounds 31] [--lane direct|sdk]
 *       [--auth none|jwt|api-key]
 *
 * Prints the median and lowest CPU µs per call over the rounds.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { SeededRng } from "@safla/core";
import { parseConfig } from "../config.ts";
import { Gateway } from "../gateway/gateway.ts";
import { createResumeCodec } from "../front/front.ts";
import { createGatewayApp } from "../front/app.ts";
import { Authenticator } from "../auth/authenticator.ts";
import { generateApiKey } from "../auth/api_keys.ts";
import { startTestIssuer, type TestIssuer } from "../auth/testing/test_issuer.ts";

/** Options of {@link measureFrontCpu}. */
export interface FrontCpuOptions {
  callsPerRound: number;
  rounds: number;
  /** Which lane serves the calls: the direct lane, or the SDK `Server` (the lane off). */
  lane: "direct" | "sdk";
  /** How each call authenticates: not at all, a JWT (the same one each time), an API key. */
  auth?: FrontAuth;
}

/** The kinds of authentication {@link measureFrontCpu} can put in front. */
export const FRONT_AUTH = ["none", "jwt", "api-key"] as const;
/** One of {@link FRONT_AUTH}. */
export type FrontAuth = typeof FRONT_AUTH[number];

const RESOURCE = "http://127.0.0.1/mcp";

/** The authenticator and the Authorization header of each call, for `auth`. */
async function frontAuth(
  auth: FrontAuth,
): Promise<
  { authenticator?: Authenticator; headers: Record<string, string>; issuer?: TestIssuer }
> {
  if (auth === "none") return { headers: {} };
  if (auth === "api-key") {
    const { key, hash } = generateApiKey();
    const authenticator = new Authenticator({
      requiredScopes: ["mcp"],
      apiKeys: [{ hashHex: hash.slice("sha256:".length), subject: "bench", scopes: ["mcp"] }],
    });
    return { authenticator, headers: { authorization: `Bearer ${key}` } };
  }
  const issuer = await startTestIssuer();
  const authenticator = new Authenticator({
    resource: RESOURCE,
    requiredScopes: ["mcp"],
    apiKeys: [],
    oauth: {
      issuer: issuer.issuer,
      algorithms: ["RS256"],
      clockSkewSeconds: 30,
      jwksRefreshMinIntervalMs: 30_000,
    },
  });
  const token = await issuer.mint({
    iss: issuer.issuer,
    aud: RESOURCE,
    sub: "bench",
    scope: "mcp",
    exp: Math.floor(Date.now() / 1000) + 3600,
  });
  return { authenticator, headers: { authorization: `Bearer ${token}` }, issuer };
}

/** What {@link measureFrontCpu} found. */
export interface FrontCpuResult {
  medianUs: number;
  minUs: number;
  /** Calls the direct lane served, to confirm which lane ran. */
  directCalls: number;
}

const HEADERS = {
  host: "127.0.0.1",
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

/** Measures CPU µs per call through the front; see the module doc. */
export async function measureFrontCpu(options: FrontCpuOptions): Promise<FrontCpuResult> {
  const gateway = new Gateway(parseConfig({ mcpServers: {} }), {
    nowMs: () => 0,
    rng: new SeededRng(1),
  });
  // The forwarding answers at once: what is measured is the front's own cost.
  Object.assign(gateway, {
    forwardsTool: () => true,
    toolEra: () => "legacy",
    callTool: () => Promise.resolve({ content: [{ type: "text", text: "hi" }] }),
  });
  const { authenticator, headers: authHeaders, issuer } = await frontAuth(options.auth ?? "none");
  const http = createGatewayApp({
    gateway,
    codec: createResumeCodec("k".repeat(32)),
    allowedHosts: [],
    allowedOrigins: [],
    maxRequestBodyBytes: 1 << 20,
    maxSessions: 1,
    auth: authenticator,
  });
  http.setDirectLane(options.lane === "direct");
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    http.fetch(
      new Request("http://127.0.0.1/mcp", {
        method: "POST",
        headers: { ...HEADERS, ...authHeaders, ...headers },
        body: JSON.stringify(body),
      }),
    );
  try {
    const opened = await post({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        // What desktop clients declare; the lane still takes calls to 2025 tools.
        capabilities: { roots: {}, sampling: {} },
        clientInfo: { name: "front-cpu", version: "1" },
      },
    });
    const session = {
      "mcp-session-id": opened.headers.get("mcp-session-id") ?? "",
      "mcp-protocol-version": "2025-11-25",
    };
    await opened.text();
    await (await post({ jsonrpc: "2.0", method: "notifications/initialized" }, session)).text();
    const call = {
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "svc__echo", arguments: { message: "x" } },
    };
    const round = async (): Promise<number> => {
      const before = process.cpuUsage();
      for (let i = 0; i < options.callsPerRound; i++) {
        const text = await (await post(call, session)).text();
        if (!text.includes('"hi"')) throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
      }
      const used = process.cpuUsage(before);
      return (used.user + used.system) / options.callsPerRound;
    };
    await round(); // warm-up
    const perCallUs: number[] = [];
    for (let r = 0; r < options.rounds; r++) perCallUs.push(await round());
    perCallUs.sort((a, b) => a - b);
    return {
      medianUs: perCallUs[Math.floor(perCallUs.length / 2)],
      minUs: perCallUs[0],
      directCalls: http.directCallCount(),
    };
  } finally {
    await http.close();
    await gateway.close();
    await issuer?.close();
  }
}

function positive(raw: string | undefined, fallback: number, flag: string): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`--${flag} must be an integer ≥ 1, got ${raw}`);
  }
  return n;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      calls: { type: "string" },
      rounds: { type: "string" },
      lane: { type: "string" },
      auth: { type: "string" },
    },
  });
  const lane = values.lane ?? "direct";
  if (lane !== "direct" && lane !== "sdk") {
    throw new RangeError(`--lane must be direct or sdk, got ${lane}`);
  }
  const auth = (values.auth ?? "none") as FrontAuth;
  if (!FRONT_AUTH.includes(auth)) {
    throw new RangeError(`--auth must be one of ${FRONT_AUTH.join(", ")}, got ${values.auth}`);
  }
  const result = await measureFrontCpu({
    auth,
    callsPerRound: positive(values.calls, 2_000, "calls"),
    rounds: positive(values.rounds, 31, "rounds"),
    lane,
  });
  console.log(
    `front CPU per tools/call (${lane} lane, auth ${auth}): median ${
      result.medianUs.toFixed(1)
    } µs, ` +
      `lowest ${result.minUs.toFixed(1)} µs`,
  );
}
