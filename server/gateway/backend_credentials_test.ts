// Credentials towards backends (issue 10): a client's Authorization header never
// reaches a backend; the gateway's own headers come from ${env:…}/${file:…}
// references resolved where it connects, and OAuth client credentials from the
// backend's own authorization server (oidc-provider); no secret value shows in
// status, management tools or errors.
import assert from "node:assert/strict";
import { ClientCredentialsToken } from "@safla/transports";
import { config, startNode } from "../testing/harness.ts";
import { startQuirksBackend } from "../testing/quirks_backend.ts";
import { startOAuthServer } from "../testing/oauth_server.ts";
import type { GatewayInstance } from "../instance.ts";

const ENV_SECRET = "env-secret-value-7f3a";
const FILE_SECRET = "file-secret-value-91bc";
const CLIENT_TOKEN = "client-token-must-not-pass-5d2e";

/** Posts one JSON-RPC message to the node as a client with its own bearer token. */
async function post(
  node: GatewayInstance,
  message: Record<string, unknown>,
  sessionId?: string,
): Promise<{ sessionId: string | null; body: Record<string, unknown> }> {
  const response = await fetch(`${node.url}/mcp`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      authorization: `Bearer ${CLIENT_TOKEN}`,
      ...(sessionId ? { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" } : {}),
    },
    body: JSON.stringify({ jsonrpc: "2.0", ...message }),
  });
  const text = await response.text();
  const data = text.split("\n").find((line) => line.startsWith("data: "));
  const json = (data ? data.slice("data: ".length) : text).trim();
  return { sessionId: response.headers.get("mcp-session-id"), body: json ? JSON.parse(json) : {} };
}

async function echoedHeaders(node: GatewayInstance, tool: string): Promise<Record<string, string>> {
  const init = await post(node, {
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "t", version: "1" },
    },
  });
  assert.ok(init.sessionId, JSON.stringify(init.body));
  await post(node, { method: "notifications/initialized" }, init.sessionId);
  const call = await post(
    node,
    { id: 2, method: "tools/call", params: { name: tool, arguments: { message: "x" } } },
    init.sessionId,
  );
  const result = call.body.result as { content: { text: string }[] } | undefined;
  assert.ok(result, JSON.stringify(call.body));
  return JSON.parse(result.content[0].text);
}

Deno.test({
  name:
    "backend credentials: no client token passes, references resolve, secrets stay out of status",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const backend = await startQuirksBackend(["echo-headers"]);
    const as = await startOAuthServer();
    const file = await Deno.makeTempFile();
    await Deno.writeTextFile(file, `${FILE_SECRET}\n`);
    Deno.env.set("SAFLA_TEST_BACKEND_KEY", ENV_SECRET);
    Deno.env.set("SAFLA_TEST_OAUTH_SECRET", as.clientSecret);
    const node = await startNode(config({
      keyed: {
        url: backend.url,
        headers: {
          "X-Api-Key": "${env:SAFLA_TEST_BACKEND_KEY}",
          "X-File-Key": `\${file:${file}}`,
        },
      },
      oauthed: {
        url: backend.url,
        oauth: {
          issuer: as.issuer,
          clientId: as.clientId,
          clientSecret: "${env:SAFLA_TEST_OAUTH_SECRET}",
        },
      },
      missing: { url: backend.url, headers: { "X-Api-Key": "${env:SAFLA_TEST_NOT_SET}" } },
    }, { connectTimeoutMs: 5_000 }));
    try {
      const keyed = await echoedHeaders(node, "keyed__echo");
      assert.equal(keyed["x-api-key"], ENV_SECRET);
      assert.equal(keyed["x-file-key"], FILE_SECRET);
      assert.equal(keyed.authorization, undefined, "a client's Authorization reached the backend");
      assert.ok(!JSON.stringify(keyed).includes(CLIENT_TOKEN));

      const oauthed = await echoedHeaders(node, "oauthed__echo");
      assert.match(oauthed.authorization ?? "", /^Bearer [A-Za-z0-9_-]{20,}$/);
      assert.ok(!JSON.stringify(oauthed).includes(CLIENT_TOKEN));

      const status = JSON.stringify(node.gateway.status());
      assert.match(status, /SAFLA_TEST_NOT_SET/, "the missing reference is named");
      const listed = JSON.stringify(
        await node.gateway.callTool({ name: "safla__list_servers", arguments: {} }, {
          notify: () => Promise.resolve(),
        }),
      );
      for (const secret of [ENV_SECRET, FILE_SECRET, as.clientSecret, oauthed.authorization]) {
        assert.ok(!status.includes(secret!), "a secret value shows in status");
        assert.ok(!listed.includes(secret!), "a secret value shows in safla__list_servers");
      }
    } finally {
      await node.close();
      await backend.close();
      await as.close();
      await Deno.remove(file);
      Deno.env.delete("SAFLA_TEST_BACKEND_KEY");
      Deno.env.delete("SAFLA_TEST_OAUTH_SECRET");
    }
  },
});

Deno.test({
  name: "client credentials: the token is cached and fetched again before it expires",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const as = await startOAuthServer(100);
    let nowMs = 0;
    const token = new ClientCredentialsToken(
      { issuer: as.issuer, clientId: as.clientId, clientSecret: as.clientSecret },
      "svc#0",
      () => nowMs,
    );
    try {
      const first = await token.authorization();
      assert.equal(await token.authorization(), first);
      assert.equal(token.fetches, 1);
      nowMs = 89_000; // 10 s before expiry: still the cached one
      assert.equal(await token.authorization(), first);
      nowMs = 91_000; // within the margin (10 % of 100 s): a fresh one, before it expires
      const second = await token.authorization();
      assert.notEqual(second, first);
      assert.equal(token.fetches, 2);
      token.invalidate(); // the backend refused it
      assert.notEqual(await token.authorization(), second);
      assert.equal(token.fetches, 3);
      const wrong = new ClientCredentialsToken(
        { issuer: as.issuer, clientId: as.clientId, clientSecret: "wrong-secret-value" },
        "svc#1",
      );
      await assert.rejects(wrong.authorization(), (error: Error) => {
        assert.match(error.message, /^svc#1: no token from http:\/\/127\.0\.0\.1:\d+\//);
        assert.ok(!error.message.includes("wrong-secret-value"));
        return true;
      });
    } finally {
      await as.close();
    }
  },
});
