/**
 * CPU per 2025 `tools/call` spent in the HTTP front alone: the Hono app
 * (guard, body, routes, the session, the direct lane or the SDK `Server`)
 * served in-process, with a gateway whose forwarding answers at once. No
 * processes, no sockets, so the figure is steady on a busy machine where
 * the end-to-end bench (gateway_vs_peers.ts) is not, and tells whether a
 * change to the front costs anything.
 *
 *     deno run -A server/bench/front_cpu.ts [--calls 2000] [--rounds 31] [--lane direct|sdk]
 *       [--auth none|jwt|api-key|none,jwt,...]
 *
 * Prints the median and lowest CPU µs per call over the rounds; with several
 * `--auth` kinds, their rounds interleave and each kind's cost over the first
 * is printed.
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

/** One front under measurement: a round of calls, and what served them. */
interface OpenFront {
  /** CPU µs per call over one round. */
  round(): Promise<number>;
  directCalls(): number;
  close(): Promise<void>;
}

/** Builds the app for `options` and opens its session. */
async function openFront(options: FrontCpuOptions): Promise<OpenFront> {
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
  const close = async () => {
    await http.close();
    await gateway.close();
    await issuer?.close();
  };
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
    return {
      round: async () => {
        const before = process.cpuUsage();
        for (let i = 0; i < options.callsPerRound; i++) {
          const text = await (await post(call, session)).text();
          if (!text.includes('"hi"')) throw new Error(`unexpected answer: ${text.slice(0, 200)}`);
        }
        const used = process.cpuUsage(before);
        return (used.user + used.system) / options.callsPerRound;
      },
      directCalls: () => http.directCallCount(),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Measures CPU µs per call through the front; see the module doc. */
export async function measureFrontCpu(options: FrontCpuOptions): Promise<FrontCpuResult> {
  const front = await openFront(options);
  try {
    await front.round(); // warm-up
    const perCallUs: number[] = [];
    for (let r = 0; r < options.rounds; r++) perCallUs.push(await front.round());
    return {
      medianUs: median(perCallUs),
      minUs: Math.min(...perCallUs),
      directCalls: front.directCalls(),
    };
  } finally {
    await front.close();
  }
}

/**
 * CPU µs per call of several kinds of authentication in one process, their
 * rounds interleaved so that a busy machine slows them alike: each kind's
 * median, and the median over rounds of its difference to the first kind.
 */
export async function compareFrontAuth(
  options: Omit<FrontCpuOptions, "auth">,
  auths: readonly FrontAuth[],
): Promise<{ auth: FrontAuth; medianUs: number; addedUs: number }[]> {
  const fronts: OpenFront[] = [];
  try {
    for (const auth of auths) fronts.push(await openFront({ ...options, auth }));
    for (const front of fronts) await front.round(); // warm-up
    const perRound = auths.map(() => [] as number[]);
    for (let r = 0; r < options.rounds; r++) {
      for (const [i, front] of fronts.entries()) perRound[i].push(await front.round());
    }
    return auths.map((auth, i) => ({
      auth,
      medianUs: median(perRound[i]),
      addedUs: median(perRound[i].map((us, r) => us - perRound[0][r])),
    }));
  } finally {
    for (const front of fronts) await front.close();
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
  const auths = (values.auth ?? "none").split(",") as FrontAuth[];
  for (const auth of auths) {
    if (!FRONT_AUTH.includes(auth)) {
      throw new RangeError(`--auth must list some of ${FRONT_AUTH.join(", ")}, got ${values.auth}`);
    }
  }
  const options = {
    callsPerRound: positive(values.calls, 2_000, "calls"),
    rounds: positive(values.rounds, 31, "rounds"),
    lane,
  } as const;
  if (auths.length === 1) {
    const result = await measureFrontCpu({ ...options, auth: auths[0] });
    console.log(
      `front CPU per tools/call (${lane} lane, auth ${auths[0]}): median ` +
        `${result.medianUs.toFixed(1)} µs, lowest ${result.minUs.toFixed(1)} µs`,
    );
  } else {
    for (const r of await compareFrontAuth(options, auths)) {
      console.log(
        `front CPU per tools/call (${lane} lane, auth ${r.auth}): median ` +
          `${r.medianUs.toFixed(1)} µs, ${r.addedUs >= 0 ? "+" : ""}${r.addedUs.toFixed(1)} µs ` +
          `over ${auths[0]} (median of per-round differences)`,
      );
    }
  }
}
