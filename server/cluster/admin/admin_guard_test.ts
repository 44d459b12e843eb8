import assert from "node:assert/strict";
import { Hono } from "hono";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { ADMIN_SCOPE, ANONYMOUS, type Principal } from "@safla/core/access";
import {
  adminGuard,
  BodyTooLargeError,
  type ConnectionInfo,
  isLoopback,
  MAX_ADMIN_BODY_BYTES,
  readJsonObject,
} from "./admin_guard.ts";
import { ADMIN_TOKEN_FILE, deriveAdminToken } from "./admin_token.ts";
import { startClusterNode } from "../cluster_node.ts";

const SECRET = "admin-guard-test-secret";
const TOKEN = "t0ken-t0ken-t0ken";
const LOOPBACK: ConnectionInfo = {
  remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 },
};
const REMOTE: ConnectionInfo = {
  remoteAddr: { transport: "tcp", hostname: "10.1.2.3", port: 40000 },
};

function guarded(adminAuth?: (request: Request) => Promise<Principal | undefined>): Hono {
  const app = new Hono();
  app.use(
    "/admin/*",
    adminGuard({ allowedHosts: ["node1.internal"], adminToken: TOKEN, adminAuth }),
  );
  app.post("/admin/members", (c) => c.json({ added: true }));
  app.get("/admin/status", (c) => c.json({ ok: true }));
  return app;
}

function request(
  path: string,
  init: RequestInit & { headers?: Record<string, string> } = {},
): Request {
  return new Request(`http://127.0.0.1:8080${path}`, {
    ...init,
    headers: { host: "127.0.0.1:8080", ...init.headers },
  });
}

const bearer = { authorization: `Bearer ${TOKEN}` };

Deno.test("admin guard: the token from loopback passes; nothing else does", async (t) => {
  const app = guarded();
  await t.step("token from loopback", async () => {
    const r = await app.fetch(request("/admin/status", { headers: bearer }), LOOPBACK);
    assert.equal(r.status, 200);
  });
  await t.step("no token or a wrong one: 401 with a Bearer challenge", async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: "Bearer nope" },
      { authorization: TOKEN },
    ];
    for (const headers of attempts) {
      const r = await app.fetch(request("/admin/status", { headers }), LOOPBACK);
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
    }
  });
  await t.step("the token from another machine: 403", async () => {
    const r = await app.fetch(request("/admin/status", { headers: bearer }), REMOTE);
    assert.equal(r.status, 403);
    assert.match((await r.json()).error, /loopback/);
  });
  await t.step("a connection we know nothing about is not loopback", () => {
    assert.equal(isLoopback(undefined), false);
    assert.equal(isLoopback({ transport: "tcp", hostname: "::ffff:127.0.0.1", port: 1 }), true);
    assert.equal(isLoopback({ transport: "tcp", hostname: "::1", port: 1 }), true);
    assert.equal(isLoopback({ transport: "tcp", hostname: "128.0.0.1", port: 1 }), false);
  });
});

Deno.test("admin guard: a principal with safla:admin passes from anywhere once auth is wired", async () => {
  const admin: Principal = { ...ANONYMOUS, subject: "ops", scopes: [ADMIN_SCOPE], source: "oauth" };
  const user: Principal = { ...ANONYMOUS, subject: "alice", scopes: ["mcp"], source: "oauth" };
  const seen: (string | null)[] = [];
  const app = guarded((req) => {
    const header = req.headers.get("authorization");
    seen.push(header);
    return Promise.resolve(
      header === "Bearer ops" ? admin : header === "Bearer alice" ? user : undefined,
    );
  });
  const as = (token?: string, from = REMOTE) =>
    app.fetch(
      request("/admin/status", { headers: token ? { authorization: `Bearer ${token}` } : {} }),
      from,
    );
  assert.equal((await as("ops")).status, 200);
  assert.equal((await as("alice")).status, 403, "authenticated, but no admin scope");
  assert.equal((await as()).status, 401);
  // The admin token is judged before inbound auth ever sees it (it could go to introspection).
  seen.length = 0;
  assert.equal((await as(TOKEN, LOOPBACK)).status, 200);
  assert.equal((await as(TOKEN, REMOTE)).status, 403);
  assert.deepEqual(seen, []);
});

Deno.test("admin guard: a browser page cannot drive the admin API (CSRF, DNS rebinding)", async (t) => {
  const app = guarded();
  const members = (headers: Record<string, string>, body = '{"id":"evil"}') =>
    app.fetch(request("/admin/members", { method: "POST", headers, body }), LOOPBACK);
  await t.step("a cross-origin form post (text/plain) is refused even with the token", async () => {
    const r = await members({
      ...bearer,
      origin: "https://evil.example",
      "content-type": "text/plain",
    });
    assert.equal(r.status, 403);
  });
  await t.step("any Origin is refused: the admin API has no browser clients", async () => {
    const r = await members({
      ...bearer,
      origin: "http://127.0.0.1:8080",
      "content-type": "application/json",
    });
    assert.equal(r.status, 403);
  });
  await t.step("a body that is not application/json gets 415", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]) {
      const r = await members({ ...bearer, "content-type": type });
      assert.equal(r.status, 415, type);
    }
    const r = await members({ ...bearer, "content-type": "application/json; charset=utf-8" });
    assert.equal(r.status, 200);
  });
  await t.step("a Host that is not this node (DNS rebinding) gets 403", async () => {
    const r = await members({
      ...bearer,
      host: "evil.example",
      "content-type": "application/json",
    });
    assert.equal(r.status, 403);
    const own = await members({
      ...bearer,
      host: "node1.internal:8080",
      "content-type": "application/json",
    });
    assert.equal(own.status, 200);
  });
});

Deno.test("readJsonObject: a body declared larger than the bound is refused unread", async () => {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(1024));
    },
  });
  const req = new Request("http://127.0.0.1/admin/kv/x", {
    method: "PUT",
    headers: { "content-length": "400000000" },
    body,
  });
  await assert.rejects(readJsonObject(req, MAX_ADMIN_BODY_BYTES), BodyTooLargeError);
  assert.ok(pulled <= 1, `pulled ${pulled} chunks`);
  const small = new Request("http://127.0.0.1/", { method: "PUT", body: '{"value":"v"}' });
  assert.deepEqual(await readJsonObject(small, 64), { value: "v" });
  const array = new Request("http://127.0.0.1/", { method: "PUT", body: "[1]" });
  await assert.rejects(readJsonObject(array, 64), /expected a JSON object/);
});

Deno.test("a cluster node: admin token file, CSRF refused, bodies bounded while read", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "admin-guard-" });
  const node = await startClusterNode({
    nodeId: "n1",
    clusterId: "admin-guard-test",
    secret: SECRET,
    dataDir: `${dir}/n1`,
    members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
    requestTimeoutMs: 2_000,
  });
  const token = await deriveAdminToken(SECRET);
  const auth = { authorization: `Bearer ${token}` };
  try {
    await waitFor("a leader", () => node.host.status().role === "leader", 5_000);

    await t.step("the token is in the data dir, readable by the owner only", async () => {
      const path = `${dir}/n1/${ADMIN_TOKEN_FILE}`;
      assert.equal((await Deno.readTextFile(path)).trim(), token);
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.equal(node.adminToken, token);
    });

    await t.step("livez and readyz stay open; admin routes want the token", async () => {
      for (const path of ["/livez", "/readyz"]) {
        const r = await fetch(`${node.url}${path}`);
        assert.equal(r.status, 200, path);
        await r.body?.cancel();
      }
      for (const path of ["/admin/status", "/admin/kv?prefix=", "/admin/registry"]) {
        const r = await fetch(`${node.url}${path}`);
        assert.equal(r.status, 401, path);
        await r.body?.cancel();
      }
    });

    await t.step("three cross-site text/plain POSTs add no phantom member", async () => {
      for (let i = 0; i < 3; i++) {
        const r = await fetch(`${node.url}/admin/members`, {
          method: "POST",
          headers: { "content-type": "text/plain", origin: "https://evil.example" },
          body: JSON.stringify({
            id: `ghost${i}`,
            peer: `10.9.9.${i}:1`,
            url: `http://10.9.9.${i}:2`,
          }),
        });
        assert.notEqual(r.status, 200);
        await r.body?.cancel();
      }
      assert.deepEqual(node.host.status().members.voters, ["n1"]);
    });

    await t.step("a 400 MB streamed body gets 413 and is never held", async () => {
      const chunkBytes = 1024 * 1024;
      const totalBytes = 400 * chunkBytes;
      let sentBytes = 0;
      // One chunk, sent again and again: the client side allocates nothing per chunk.
      const chunk = new Uint8Array(chunkBytes).fill(0x20);
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sentBytes >= totalBytes) return controller.close();
          sentBytes += chunkBytes;
          controller.enqueue(chunk);
        },
      });
      const rssBefore = Deno.memoryUsage().rss;
      const outcome = await fetch(`${node.url}/admin/kv/big`, {
        method: "PUT",
        headers: { ...auth, "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(60_000),
      }).catch((error) => error);
      if (outcome instanceof Response) {
        assert.equal(outcome.status, 413);
        await outcome.body?.cancel();
      }
      // The node may drain what the client keeps sending, but holds none of it:
      // buffering the body (the old behaviour) grows this process by 400+ MB.
      const grownBytes = Deno.memoryUsage().rss - rssBefore;
      assert.ok(grownBytes < 100 * chunkBytes, `RSS grew ${grownBytes >> 20} MiB`);
      assert.equal(node.host.store.get("/user/big"), null);
    });

    await t.step("the node still serves after the attempts", async () => {
      const r = await fetch(`${node.url}/admin/kv/ok`, {
        method: "PUT",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify({ value: "v" }),
      });
      assert.equal(r.status, 200, await r.text());
    });
  } finally {
    await node.close();
    await Deno.remove(dir, { recursive: true });
  }
});
