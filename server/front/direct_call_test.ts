// End-to-end: the direct lane for tools/call (direct_call.ts) in front of
// 2025-era stdio test backends, whose requests also bypass the SDK client
// (transports/mcp/direct_requests.ts). Every step checks both what the lane
// does and that it does what the SDK lane does.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { eraKey } from "@safla/transports";
import type { EraCache } from "@safla/transports";
import { OUTCOME_UNKNOWN, SERVICE_UNAVAILABLE } from "../gateway/jsonrpc_codes.ts";
import { config, processAlive, stdioReplicas } from "../testing/harness.ts";
import { type GatewayInstance, startGatewayInstance } from "../instance.ts";
import { waitFor } from "@safla/transports/host/testing";
import { serveDirectCall } from "./direct_call.ts";
import type { CallContext, Gateway } from "../gateway/gateway.ts";
import { createResumeCodec } from "./front.ts";
import { KeepAlive } from "./direct_reply.ts";
import { Session } from "./session.ts";
import { DEFAULT_SETTINGS } from "../config.ts";
import { AccessControl } from "../access/access_control.ts";

/** What a fake gateway needs for the access checks: no policies, names it does not resolve. */
const OPEN_ACCESS = {
  access: new AccessControl(),
  isLocalTool: () => false,
  resolveTool: () => undefined,
};

/** A client that declares no sampling, elicitation or roots: its calls take the direct lane. */
async function plainClient(node: GatewayInstance): Promise<Client> {
  const client = new Client({ name: "direct", version: "1" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
  return client;
}

/**
 * A client that can be sampled; it answers "hi", or with a JSON-RPC error
 * when the prompt is "fail".
 */
async function samplingClient(node: GatewayInstance): Promise<Client> {
  const client = new Client({ name: "sampled", version: "1" }, {
    capabilities: { sampling: {} },
  });
  client.setRequestHandler("sampling/createMessage", (request) => {
    const content = request.params.messages[0]?.content as { text?: string } | undefined;
    if (content?.text === "fail") throw new Error("the user declined");
    return { role: "assistant", content: { type: "text", text: "hi" }, model: "m" };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
  return client;
}

function textOf(result: unknown): string {
  const content = (result as { content: { type: string; text?: string }[] }).content;
  return content.map((c) => c.text ?? `[${c.type}]`).join("|");
}

async function errorOf(promise: Promise<unknown>): Promise<{ code?: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: number; message: string };
  }
  assert.fail("expected an error");
}

interface ReplicaStatus {
  id: string;
  state: string;
  pid?: number;
  era?: string;
}

function replicas(node: GatewayInstance, service: string): ReplicaStatus[] {
  const services = node.gateway.status().services as { name: string; replicas: ReplicaStatus[] }[];
  return services.find((s) => s.name === service)?.replicas ?? [];
}

/** A raw 2025 session over fetch, to control ids and headers exactly. */
async function rawSession(node: GatewayInstance): Promise<{
  post(body: unknown, headers?: Record<string, string>): Promise<Response>;
}> {
  const url = `${node.url}/mcp`;
  const base = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  const init = await fetch(url, {
    method: "POST",
    headers: base,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "raw", version: "1" },
      },
    }),
  });
  await init.body?.cancel();
  const sessionId = init.headers.get("mcp-session-id");
  assert.ok(sessionId !== null, "the gateway opened a session");
  const headers = { ...base, "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" };
  const post = (body: unknown, extra: Record<string, string> = {}) =>
    fetch(url, { method: "POST", headers: { ...headers, ...extra }, body: JSON.stringify(body) });
  const initialized = await post({ jsonrpc: "2.0", method: "notifications/initialized" });
  await initialized.body?.cancel();
  return { post };
}

Deno.test({
  name: "direct lane for tools/call",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const cfg = config({
      alpha: { ...stdioReplicas("d1", "d2"), strategy: "round-robin", timeoutMs: 20_000 },
      solo: { ...stdioReplicas("s1"), timeoutMs: 400 },
    }, { maxAttempts: 2 });
    // Force the 2025 handshake on the test backends (which speak both eras).
    const eraCache: EraCache = new Map();
    for (const service of cfg.services) {
      for (const spec of service.replicas) eraCache.set(eraKey(spec), { kind: "legacy" });
    }
    const node = await startGatewayInstance({
      config: cfg,
      port: 0,
      hostname: "127.0.0.1",
      seed: 7,
      eraCache,
    });
    const clients: Client[] = [];
    const pids = new Set<number>();
    try {
      for (const r of [...replicas(node, "alpha"), ...replicas(node, "solo")]) {
        if (r.pid) pids.add(r.pid);
        assert.equal(r.era, "legacy", `${r.id} speaks 2025, so its requests go direct`);
      }
      const plain = await plainClient(node);
      const sampling = await samplingClient(node);
      clients.push(plain, sampling);
      const served = () => node.http.directCallCount();
      /** Runs `call` with the direct lane off: what the SDK lane gives. */
      const sdkLane = async <T>(call: () => Promise<T>): Promise<T> => {
        node.http.setDirectLane(false);
        try {
          return await call();
        } finally {
          node.http.setDirectLane(true);
        }
      };
      /** Calls `name` on the direct lane, then with the lane off; both give the same. */
      const sameOnBothLanes = async (
        client: Client,
        name: string,
        args: Record<string, unknown>,
      ) => {
        const what = `${name} ${JSON.stringify(args)}`;
        const before = served();
        const direct = await client.callTool({ name, arguments: args });
        assert.equal(served(), before + 1, `${what} took the direct lane`);
        const viaSdk = await sdkLane(() => client.callTool({ name, arguments: args }));
        assert.equal(served(), before + 1, `${what} with the lane off took the SDK lane`);
        assert.deepEqual(direct, viaSdk, what);
      };

      await t.step(
        "a plain client's call takes the lane and gets what the SDK lane gives",
        async () => {
          for (
            const [name, args] of [
              ["alpha__add", { a: 2, b: 3 }],
              ["alpha__test_multiple_content_types", {}],
              ["alpha__test_error_handling", {}],
              ["solo__echo", { message: "ü ✓ \u2028 end" }],
            ] as const
          ) await sameOnBothLanes(plain, name, args);
        },
      );

      await t.step(
        "a sampling client's call takes the lane; the backend's questions go out on its stream",
        async () => {
          for (
            const [name, args] of [
              ["alpha__test_sampling", { prompt: "hello" }],
              ["alpha__test_sampling", { prompt: "fail" }], // the client answers with an error
              ["alpha__test_elicitation", { message: "who?" }], // a capability it lacks
              ["solo__echo", { message: "plain" }],
            ] as const
          ) await sameOnBothLanes(sampling, name, args);
          const sampled = await sampling.callTool({
            name: "alpha__test_sampling",
            arguments: { prompt: "hello" },
          });
          assert.equal(textOf(sampled), "LLM response: hi");
        },
      );

      await t.step("ids come back as sent, and two sessions' calls never cross", async () => {
        const sessions = [await rawSession(node), await rawSession(node)];
        const calls = 16;
        const before = served();
        const replies = await Promise.all(
          sessions.flatMap((session, s) =>
            Array.from({ length: calls }, async (_, i) => {
              // Both sessions use the same ids; one as numbers, one as strings.
              const id = s === 0 ? i + 1 : String(i + 1);
              const response = await session.post({
                jsonrpc: "2.0",
                id,
                method: "tools/call",
                params: { name: "alpha__echo", arguments: { message: `s${s}-c${i}` } },
              });
              assert.equal(response.headers.get("content-type"), "application/json");
              const body = await response.json();
              return { id, message: `s${s}-c${i}`, body };
            })
          ),
        );
        assert.equal(served(), before + 2 * calls);
        for (const { id, message, body } of replies) {
          assert.equal(body.jsonrpc, "2.0");
          assert.strictEqual(body.id, id);
          assert.match(textOf(body.result), new RegExp(`^d[12]: ${message}$`));
        }
      });

      await t.step("progress streams before the result", async () => {
        const before = served();
        const progress: number[] = [];
        const result = await plain.callTool(
          { name: "solo__slow", arguments: { steps: 3, stepMs: 20 } },
          { onprogress: (p) => progress.push(p.progress) },
        );
        assert.equal(served(), before + 1);
        assert.deepEqual(progress, [1, 2, 3]);
        assert.match(textOf(result), /s1: done after 3 steps/);
      });

      await t.step(
        "logs of the one call in flight stream to its client, filtered by level",
        async () => {
          const logs: string[] = [];
          plain.setNotificationHandler("notifications/message", (n) => {
            logs.push(String(n.params.data));
          });
          const before = served();
          const result = await plain.callTool({
            name: "solo__test_tool_with_logging",
            arguments: {},
          });
          assert.equal(served(), before + 1);
          assert.match(textOf(result), /executed successfully/);
          assert.deepEqual(logs, [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
          ]);
          await plain.setLoggingLevel("error");
          logs.length = 0;
          await plain.callTool({ name: "solo__test_tool_with_logging", arguments: {} });
          assert.deepEqual(logs, [], "info logs are below the level this client set");
        },
      );

      await t.step("cancellation reaches the upstream that runs the call", async () => {
        const count = async () =>
          Number(
            textOf(await plain.callTool({ name: "solo__count", arguments: { key: "cancelled" } })),
          );
        const before = await count();
        const controller = new AbortController();
        const started = served();
        const call = plain.callTool(
          { name: "solo__slow", arguments: { steps: 100, stepMs: 50 } },
          { signal: controller.signal, onprogress: () => controller.abort() },
        );
        await assert.rejects(call);
        assert.equal(served(), started + 1, "the cancelled call was on the direct lane");
        let after = before;
        const deadline = Date.now() + 5_000;
        while (after === before && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
          after = await count();
        }
        assert.equal(after, before + 1, "the backend saw the cancellation");
      });

      await t.step("a timeout names the service, as on the SDK lane", async () => {
        const args = { name: "solo__slow", arguments: { steps: 1, stepMs: 2_000 } };
        const direct = await errorOf(plain.callTool(args));
        const viaSdk = await errorOf(sdkLane(() => plain.callTool(args)));
        assert.equal(direct.code, SERVICE_UNAVAILABLE);
        assert.match(direct.message, /solo/);
        assert.match(direct.message, /timed out after 400 ms/);
        assert.deepEqual(
          { code: direct.code, message: direct.message },
          { code: viaSdk.code, message: viaSdk.message },
        );
      });

      await t.step("what the lane does not take goes the SDK way", async () => {
        const before = served();
        const status = await plain.callTool({ name: "safla__status", arguments: {} });
        assert.ok(!status.isError, "a local tool answers");
        const unknown = await errorOf(plain.callTool({ name: "nope", arguments: {} }));
        assert.equal(unknown.code, -32602);
        assert.match(unknown.message, /nope/);
        assert.equal(served(), before, "local and unknown tools are not forwarded directly");

        const raw = await rawSession(node);
        const call = {
          jsonrpc: "2.0",
          id: 5,
          method: "tools/call",
          params: { name: "alpha__echo", arguments: { message: "x" } },
        };
        const wrongVersion = await raw.post(call, { "mcp-protocol-version": "1999-01-01" });
        assert.equal(wrongVersion.status, 400, "the SDK transport rejects the header");
        await wrongVersion.body?.cancel();
        const noEventStream = await raw.post(call, { accept: "application/json" });
        assert.equal(noEventStream.status, 406);
        await noEventStream.body?.cancel();
        const badArguments = await raw.post({
          ...call,
          params: { name: "alpha__echo", arguments: 3 },
        });
        const badBody = await badArguments.text();
        assert.match(badBody, /-32602/, "the SDK lane validates the request");
        assert.equal(served(), before);
      });

      await t.step("a replica killed mid-call: a write reports an unknown outcome", async () => {
        node.gateway.setStrategy("round-robin", "alpha");
        const last = textOf(await plain.callTool({ name: "alpha__whoami", arguments: {} }));
        const victim = replicas(node, "alpha").find((r) =>
          r.id === (last === "d1" ? "alpha#1" : "alpha#0")
        )!;
        const write = plain.callTool({
          name: "alpha__increment",
          arguments: { key: "k", delayMs: 1_000 },
        });
        await new Promise((r) => setTimeout(r, 150));
        Deno.kill(victim.pid!, "SIGKILL");
        const error = await errorOf(write);
        assert.equal(error.code, OUTCOME_UNKNOWN, error.message);
        assert.match(error.message, /alpha/);
        assert.match(error.message, /may or may not have run/);
        await waitFor(
          "restart",
          () => replicas(node, "alpha").every((r) => r.state === "ready"),
          15_000,
        );
        for (const r of replicas(node, "alpha")) if (r.pid) pids.add(r.pid);
        const after = await plain.callTool({ name: "alpha__echo", arguments: { message: "ok" } });
        assert.match(textOf(after), /: ok$/);
      });
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      await node.close();
    }
    for (const pid of pids) {
      await waitFor(`stdio child ${pid} to exit`, () => !processAlive(pid), 5_000);
    }
  },
});

/** A session whose client declared `capabilities`, for driving the lane without HTTP. */
function sessionFor(gateway: Gateway, capabilities: Record<string, unknown>): Session {
  const session = new Session(gateway, createResumeCodec("k".repeat(32)), { id: "s1" });
  session.server.getClientCapabilities = () => capabilities;
  return session;
}

Deno.test("direct lane: a question for a client that closed the call's stream fails at once", async () => {
  const streamClosed = Promise.withResolvers<void>();
  const question = Promise.withResolvers<Error>();
  let waitingAfterAsk = -1;
  // A gateway whose call streams progress, then asks the client once its stream is gone.
  const gateway = {
    settings: DEFAULT_SETTINGS,
    ...OPEN_ACCESS,
    async callTool(_params: unknown, ctx: CallContext) {
      await ctx.notify({
        method: "notifications/progress",
        params: { progressToken: "p", progress: 1 },
      });
      await streamClosed.promise;
      const answer = ctx.sendRequest!({ method: "sampling/createMessage", params: {} });
      waitingAfterAsk = session.questionCount;
      question.resolve(await answer.then(() => new Error("answered"), (error) => error));
      return { content: [] };
    },
  } as unknown as Gateway;
  const session = sessionFor(gateway, { sampling: {} });
  const keepAlive = new KeepAlive();
  try {
    const response = await serveDirectCall(
      gateway,
      keepAlive,
      session,
      { id: 1, params: { name: "svc__tool", _meta: { progressToken: "p" } } },
    );
    assert.equal(response.headers.get("content-type"), "text/event-stream");
    await response.body!.cancel();
    streamClosed.resolve();
    const error = await question.promise;
    assert.match(error.message, /the client closed this call's stream/);
    assert.equal(waitingAfterAsk, 0, "nothing left waiting for an answer that cannot come");
  } finally {
    keepAlive.close();
    await session.close();
  }
});

Deno.test("direct lane: a question outlives the call whose stream carried it", async () => {
  // With several calls of one client in flight the gateway may push a question
  // for one call on another's stream; that call ending must not fail it.
  const question = Promise.withResolvers<{ answer: Promise<Record<string, unknown>> }>();
  const gateway = {
    settings: DEFAULT_SETTINGS,
    ...OPEN_ACCESS,
    callTool(_params: unknown, ctx: CallContext) {
      const answer = ctx.sendRequest!({ method: "sampling/createMessage", params: {} });
      question.resolve({ answer });
      return Promise.resolve({ content: [] });
    },
  } as unknown as Gateway;
  const session = sessionFor(gateway, { sampling: {} });
  const keepAlive = new KeepAlive();
  try {
    const response = await serveDirectCall(
      gateway,
      keepAlive,
      session,
      { id: 1, params: { name: "svc__tool" } },
    );
    const { answer } = await question.promise;
    // The stream carried the question, then the call's result, and ended.
    const events = await response.text();
    const asked = JSON.parse(events.split("\n").find((l) => l.startsWith("data: "))!.slice(6));
    assert.equal(asked.method, "sampling/createMessage");
    assert.match(events, /"id":1[,}]/, "the call answered");
    assert.equal(session.questionCount, 1, "the question still waits for its answer");
    const rest = session.answerQuestions({
      jsonrpc: "2.0",
      id: asked.id,
      result: { role: "assistant", content: { type: "text", text: "hi" }, model: "m" },
    });
    assert.equal(rest, undefined);
    assert.deepEqual(await answer, {
      role: "assistant",
      content: { type: "text", text: "hi" },
      model: "m",
    });
  } finally {
    keepAlive.close();
    await session.close();
  }
});
