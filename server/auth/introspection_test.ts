// Opaque access tokens checked by RFC 7662 introspection (cached briefly),
// the Protected Resource Metadata document, and an unreachable authorization
// server: 503 at once, no stall, nothing reaching the backend.
import assert from "node:assert/strict";
import { mcpPost, RESOURCE, startAuthedApp } from "./testing/authed_app.ts";
import { CLIENT_ID, CLIENT_SECRET, startTestIssuer } from "./testing/test_issuer.ts";

const SECRET_ENV = "SAFLA_TEST_INTROSPECTION_SECRET";

async function statusOf(response: Response): Promise<number> {
  await response.body?.cancel();
  return response.status;
}

Deno.test("introspection: active opaque tokens pass, others get 401, answers are cached", async () => {
  const issuer = await startTestIssuer();
  Deno.env.set(SECRET_ENV, CLIENT_SECRET);
  const node = await startAuthedApp({
    resource: RESOURCE,
    oauth: {
      issuer: issuer.issuer,
      introspection: {
        endpoint: `${issuer.issuer}/introspect`,
        clientId: CLIENT_ID,
        clientSecretEnv: SECRET_ENV,
      },
    },
  });
  const exp = Math.floor(Date.now() / 1000) + 300;
  issuer.opaqueTokens.set("opaque-good", {
    active: true,
    sub: "carol",
    aud: RESOURCE,
    exp,
    scope: "mcp",
  });
  issuer.opaqueTokens.set("opaque-other", {
    active: true,
    sub: "carol",
    aud: "http://other/mcp",
    exp,
  });
  const list = (token: string) =>
    node.app.fetch(mcpPost({ jsonrpc: "2.0", id: 1, method: "tools/list" }, `Bearer ${token}`));
  try {
    assert.notEqual(await statusOf(await list("opaque-good")), 401);
    assert.notEqual(await statusOf(await list("opaque-good")), 401);
    assert.equal(issuer.introspections, 1, "the second call used the cached answer");
    const other = await list("opaque-other");
    assert.equal(other.status, 401);
    assert.match(other.headers.get("www-authenticate")!, /the token is not for this resource/);
    await other.body?.cancel();
    const revoked = await list("opaque-unknown");
    assert.equal(revoked.status, 401);
    assert.match(revoked.headers.get("www-authenticate")!, /the token is not active/);
    await revoked.body?.cancel();
    assert.equal(node.backend.received.length, 0);
  } finally {
    Deno.env.delete(SECRET_ENV);
    await node.close();
    await issuer.close();
  }
});

Deno.test("Protected Resource Metadata at both well-known paths", async () => {
  const node = await startAuthedApp({
    resource: RESOURCE,
    requiredScopes: ["mcp"],
    oauth: { issuer: "https://login.example.com" },
  });
  try {
    for (
      const path of [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
      ]
    ) {
      const response = await node.app.fetch(new Request(`http://localhost:8080${path}`));
      assert.equal(response.status, 200, path);
      assert.deepEqual(await response.json(), {
        resource: RESOURCE,
        authorization_servers: ["https://login.example.com"],
        bearer_methods_supported: ["header"],
        resource_name: "SAFLA gateway",
        scopes_supported: ["mcp"],
      });
    }
  } finally {
    await node.close();
  }
});

Deno.test("an unreachable authorization server: 503 at once, and the node keeps serving", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const deadIssuer = `http://127.0.0.1:${closed.addr.port}`;
  closed.close();
  const node = await startAuthedApp({ resource: RESOURCE, oauth: { issuer: deadIssuer } });
  try {
    const token = ["eyJhbGciOiJSUzI1NiJ9", "eyJzdWIiOiJhIn0", "c2ln"].join(".");
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const response = await node.app.fetch(
        mcpPost({ jsonrpc: "2.0", id: 1, method: "tools/list" }, `Bearer ${token}`),
      );
      assert.equal(response.status, 503);
      assert.equal(response.headers.get("retry-after"), "5");
      await response.body?.cancel();
      assert.ok(performance.now() - started < 2_000);
    }
    const health = await node.app.fetch(new Request("http://localhost:8080/healthz"));
    assert.equal(health.status, 200);
    await health.body?.cancel();
    assert.equal(node.backend.received.length, 0);
  } finally {
    await node.close();
  }
});
