// Enforcement through the real fronts, with principals attached as the
// authentication front attaches them (a 2025 session's origin, a 2026
// request's authInfo): filtered lists, refused calls of both eras and lanes,
// list_changed for exactly the sessions whose view a policy change alters,
// and the audit of denials and changes.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { createMcpHandler } from "@modelcontextprotocol/server";
import { SeededRng } from "@safla/core";
import { ADMIN_SCOPE, type Principal } from "@safla/core/access";
import type { Catalog } from "@safla/transports";
import { waitFor } from "@safla/transports/host/testing";
import { config } from "../testing/harness.ts";
import { standInFactory } from "../testing/stand_in_backend.ts";
import { Gateway } from "../gateway/gateway.ts";
import { createFrontServer, createResumeCodec } from "../front/front.ts";
import { addManagementTools } from "../control/management.ts";
import { createGatewayApp } from "../front/app.ts";
import { principalClient } from "./testing/principal_session.ts";
import { serveDirectCall } from "../front/direct_call.ts";
import { KeepAlive } from "../front/direct_reply.ts";

const CATALOG: Catalog = {
  tools: [
    { name: "read", inputSchema: { type: "object" }, annotations: { readOnlyHint: true } },
    { name: "write", inputSchema: { type: "object" } },
  ],
  resources: [{ uri: "file:///pub/a", name: "a" }, { uri: "file:///priv/b", name: "b" }],
  resourceTemplates: [{ uriTemplate: "file:///pub/{name}", name: "pub" }],
  prompts: [{ name: "greet" }],
  capabilities: { tools: {}, resources: { subscribe: true }, prompts: {} },
  era: "legacy",
  protocolVersion: "2025-11-25",
};

const principal = (subject: string, scopes: string[] = [], groups: string[] = []): Principal => ({
  subject,
  scopes,
  claims: { groups },
  source: "apiKey",
});
const ALICE = principal("alice", [], ["eng"]);
const BOB = principal("bob");
const ROOT = principal("root", [ADMIN_SCOPE]);

const FS_POLICY = {
  name: "fs-eng",
  service: "fs",
  rules: [
    { effect: "allow", claims: { groups: ["eng"] } },
    { effect: "allow", subjects: ["bob"], tools: ["read"], resources: ["file:///pub/*"] },
    { effect: "deny", subjects: ["alice"], tools: ["write"] },
  ],
};

async function start() {
  const reply = (method: string, params?: Record<string, unknown>) =>
    Promise.resolve(
      method === "tools/call"
        ? { content: [{ type: "text", text: `ran ${params?.name}` }] }
        : method === "resources/read"
        ? { contents: [{ uri: params?.uri, text: "x" }] }
        : method === "prompts/get"
        ? { messages: [] }
        : {},
    );
  const { factory } = standInFactory(CATALOG, { "fs#0": reply, "gh#0": reply });
  const gateway = new Gateway(
    config({ fs: { command: "stand-in" }, gh: { command: "stand-in" } }),
    { nowMs: () => performance.now(), rng: new SeededRng(1), backendFactory: factory },
  );
  addManagementTools(gateway);
  await gateway.start();
  gateway.access.audit.configure({ flushIntervalMs: 10 });
  return gateway;
}

const names = (items: { name?: string; uri?: string }[]) => items.map((i) => i.uri ?? i.name);
const errorCode = (e: unknown) => (e as { code?: number }).code;

Deno.test("access through the 2025 front: filtered lists, refused calls, list_changed per view, audit", async () => {
  const gateway = await start();
  const alice = await principalClient(gateway, ALICE);
  const bob = await principalClient(gateway, BOB);
  const root = await principalClient(gateway, ROOT);
  try {
    // No policy: every backend target for everyone; management tools only for the admin.
    const all = names((await bob.client.listTools()).tools);
    assert.deepEqual(all, ["fs__read", "fs__write", "gh__read", "gh__write"]);
    assert.ok(names((await root.client.listTools()).tools).includes("safla__policy_put"));
    await assert.rejects(
      bob.client.callTool({ name: "safla__status", arguments: {} }),
      (e) => errorCode(e) === -32013 && /requires the scope safla:admin/.test(String(e)),
    );

    await bob.client.subscribeResource({ uri: "file:///priv/b" });
    await bob.client.subscribeResource({ uri: "file:///pub/a" });
    const put = await root.client.callTool({
      name: "safla__policy_put",
      arguments: { policy: FS_POLICY },
    });
    assert.equal((put.structuredContent as { put: string }).put, "fs-eng");
    // Alice's and Bob's tool views changed; the admin's (no rule matches it) too: fs is now closed to it.
    await waitFor(
      "list_changed",
      () => alice.changed.includes("tools") && bob.changed.includes("tools"),
      5_000,
    );

    assert.deepEqual(
      [...bob.session.subscriptions],
      ["file:///pub/a"],
      "a subscription the new policy denies ends with it",
    );
    assert.deepEqual(names((await alice.client.listTools()).tools), [
      "fs__read",
      "gh__read",
      "gh__write",
    ]);
    assert.deepEqual(names((await bob.client.listTools()).tools), [
      "fs__read",
      "gh__read",
      "gh__write",
    ]);
    assert.deepEqual(names((await bob.client.listResources()).resources), ["file:///pub/a"]);
    assert.deepEqual(names((await alice.client.listResources()).resources), [
      "file:///pub/a",
      "file:///priv/b",
    ]);
    assert.deepEqual(names((await bob.client.listPrompts()).prompts), ["gh__greet"]);
    assert.deepEqual(
      (await bob.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate),
      ["file:///pub/{name}", "file:///pub/{name}"],
      "bob's glob covers the template's text (both services declare it)",
    );

    // Refused exactly as unknown names are.
    for (const [client, tool] of [[alice, "fs__write"], [bob, "fs__write"]] as const) {
      await assert.rejects(
        client.client.callTool({ name: tool, arguments: {} }),
        (e) => errorCode(e) === -32602 && /Tool fs__write not found/.test(String(e)),
      );
    }
    await assert.rejects(
      bob.client.readResource({ uri: "file:///priv/b" }),
      (e) => errorCode(e) === -32602 && /Resource not found/.test(String(e)),
    );
    await assert.rejects(
      bob.client.subscribeResource({ uri: "file:///priv/b" }),
      /Resource not found/,
    );
    await assert.rejects(bob.client.getPrompt({ name: "fs__greet" }), /Prompt fs__greet not found/);
    await assert.rejects(
      bob.client.complete({
        ref: { type: "ref/prompt", name: "fs__greet" },
        argument: { name: "a", value: "" },
      }),
      /Prompt fs__greet not found/,
    );
    assert.deepEqual((await bob.client.callTool({ name: "fs__read", arguments: {} })).content, [
      { type: "text", text: "ran read" },
    ]);
    assert.ok(await alice.client.readResource({ uri: "file:///priv/b" }));

    // The direct lane refuses as the SDK lane does.
    const keepAlive = new KeepAlive();
    try {
      const response = await serveDirectCall(gateway, keepAlive, bob.session, {
        id: 7,
        params: { name: "fs__write", arguments: {} },
      });
      const body = await response.json();
      assert.equal(body.error.code, -32602);
      assert.match(body.error.message, /Tool fs__write not found/);
    } finally {
      keepAlive.close();
    }

    // A change that leaves a session's view alone sends it nothing.
    const before = { alice: alice.changed.length, bob: bob.changed.length };
    await root.client.callTool({
      name: "safla__policy_put",
      arguments: {
        policy: {
          ...FS_POLICY,
          rules: [...FS_POLICY.rules, { effect: "deny", subjects: ["bob"], prompts: ["x"] }],
        },
      },
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual({ alice: alice.changed.length, bob: bob.changed.length }, before);

    // Validation errors name the field.
    await assert.rejects(
      root.client.callTool({
        name: "safla__policy_put",
        arguments: { policy: { ...FS_POLICY, rules: [{ effect: "permit" }] } },
      }),
      (e) => errorCode(e) === -32602 && /policy\.rules\[0\]\.effect/.test(String(e)),
    );

    await root.client.callTool({ name: "safla__policy_delete", arguments: { name: "fs-eng" } });
    await waitFor(
      "list_changed after delete",
      () => bob.changed.filter((k) => k === "tools").length >= 2,
      5_000,
    );
    assert.deepEqual(names((await bob.client.listTools()).tools), all);

    await gateway.access.audit.flush();
    const audit = (await root.client.callTool({ name: "safla__audit_list", arguments: {} }))
      .structuredContent as {
        records: { action: string; target: string; decision: string; principal: string }[];
      };
    const denied = audit.records.filter((r) => r.decision === "denied");
    assert.ok(
      denied.some((r) =>
        r.action === "tools/call" && r.target === "fs:write" && r.principal.endsWith("|bob")
      ),
    );
    assert.ok(
      denied.some((r) => r.action === "resources/read" && r.target === "fs:file:///priv/b"),
    );
    assert.ok(denied.some((r) => r.action === "tools/call" && r.target === "safla__status"));
    const changes = audit.records.filter((r) => r.decision === "changed").map((r) =>
      `${r.action} ${r.target}`
    );
    assert.ok(
      changes.includes("safla__policy_put fs-eng") &&
        changes.includes("safla__policy_delete fs-eng"),
      changes.join(),
    );
  } finally {
    for (const c of [alice, bob, root]) await c.close();
    await gateway.access.audit.close();
    await gateway.close();
  }
  assert.equal(gateway.access.listenerCount, 0, "closed sessions stop watching policy changes");
});

Deno.test("access through the 2026 front: the request's principal filters lists and refuses calls", async () => {
  const gateway = await start();
  const handler = createMcpHandler(
    ({ authInfo }) =>
      createFrontServer(
        gateway,
        createResumeCodec("k".repeat(32)),
        "modern",
        undefined,
        authInfo?.extra?.principal as Principal,
      ),
    { legacy: "reject" },
  );
  const clientFor = async (who: Principal) => {
    const client = new Client({ name: who.subject, version: "1" }, {
      versionNegotiation: { mode: "auto" },
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL("http://127.0.0.1/mcp"), {
        fetch: (url, init) =>
          handler.fetch(new Request(url, init), {
            authInfo: {
              token: "t",
              clientId: who.subject,
              scopes: [...who.scopes],
              extra: { principal: who },
            },
          }),
      }),
    );
    return client;
  };
  const alice = await clientFor(ALICE);
  const bob = await clientFor(BOB);
  try {
    await gateway.access.applyStored([FS_POLICY as never], 1);
    assert.deepEqual(names((await bob.listTools()).tools), ["fs__read", "gh__read", "gh__write"]);
    assert.deepEqual(names((await alice.listResources()).resources), [
      "file:///pub/a",
      "file:///priv/b",
    ]);
    await assert.rejects(
      bob.callTool({ name: "fs__write", arguments: {} }),
      /Tool fs__write not found/,
    );
    await assert.rejects(bob.readResource({ uri: "file:///priv/b" }), /Resource not found/);
    await assert.rejects(
      alice.callTool({ name: "safla__status", arguments: {} }),
      /requires the scope/,
    );
    assert.ok(await alice.readResource({ uri: "file:///priv/b" }));
  } finally {
    await alice.close();
    await bob.close();
    await handler.close();
    await gateway.access.audit.close();
    await gateway.close();
  }
});

Deno.test("a Streamable HTTP session stops watching policy changes when it ends (DELETE or close)", async () => {
  const gateway = await start();
  const app = createGatewayApp({
    gateway,
    codec: createResumeCodec("k".repeat(32)),
    allowedHosts: [],
    allowedOrigins: [],
    maxRequestBodyBytes: 1 << 20,
    maxSessions: 10,
  });
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const client = new Client({ name: `c${i}`, version: "1" }, {
        versionNegotiation: { mode: "legacy" },
      });
      await client.connect(
        new StreamableHTTPClientTransport(new URL("http://localhost/mcp"), {
          fetch: (url, init) => {
            const req = new Request(url, init);
            req.headers.set("host", "localhost");
            return Promise.resolve(app.fetch(req));
          },
        }),
      );
      clients.push(client);
    }
    assert.equal(gateway.access.listenerCount, 3);
    const [first, ...rest] = clients;
    await (first.transport as StreamableHTTPClientTransport).terminateSession();
    await first.close();
    await waitFor(
      "the deleted session's watch gone",
      () => gateway.access.listenerCount === 2,
      5_000,
    );
    for (const c of rest) await c.close();
    await app.close();
    assert.equal(gateway.access.listenerCount, 0);
  } finally {
    await app.close();
    await gateway.access.audit.close();
    await gateway.close();
  }
});
