import assert from "node:assert/strict";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { startClusterNode } from "../cluster_node.ts";
import {
  KvSessionClient,
  KvSessionClosedError,
  KvSessionRequestError,
} from "./kv_session_client.ts";
import { adminFetcher } from "../testing/admin_client.ts";

const SECRET = "kv-session-test-secret";
const adminFetch = adminFetcher(SECRET);

/** Opens a raw session socket and resolves once it is open. */
async function rawSocket(url: string, adminToken: string): Promise<WebSocket> {
  const socket = new WebSocket(`${url.replace("http:", "ws:")}/admin/kv-session`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  return socket;
}

function nextClose(socket: WebSocket): Promise<CloseEvent> {
  return new Promise((resolve) => socket.onclose = resolve);
}

Deno.test("KV session over a WebSocket on a single-node cluster", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "kv-session-" });
  const members = {
    n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` },
  };
  const node = await startClusterNode({
    nodeId: "n1",
    clusterId: "kv-session-test",
    secret: SECRET,
    dataDir: `${dir}/n1`,
    members,
    requestTimeoutMs: 2_000,
  });
  const url = node.url;
  try {
    await waitFor("a leader", () => node.host.status().role === "leader", 5_000);

    await t.step("put, get, delete and range answer as the REST routes do", async () => {
      const session = await KvSessionClient.connect(url, node.adminToken);
      try {
        // Concurrent calls of one turn travel together and are answered each.
        const puts = await Promise.all(
          ["a", "b", "c"].map((k, i) => session.put(`s/${k}`, `v${i}`)),
        );
        assert.deepEqual(puts.map((p) => p.prev), [[], [], []]);
        const again = await session.put("s/a", "v9");
        assert.equal(again.prev[0].value, "v0");
        const rest = await (await adminFetch(`${url}/admin/kv/s/a`)).json();
        assert.deepEqual(await session.get("s/a"), rest.kv);
        assert.equal(await session.get("s/none", "serializable"), undefined);
        const range = await session.range("s/", { limit: 2 });
        assert.deepEqual(range.kvs.map((kv) => kv.key), ["s/a", "s/b"]);
        assert.equal(range.more, true);
        assert.equal(range.next, "s/b");
        const rest2 = await session.range("s/", { limit: 2, after: range.next });
        assert.deepEqual([rest2.kvs.map((kv) => kv.key), rest2.more], [["s/c"], false]);
        const one = await session.delete("s/c", { prevKv: true });
        assert.deepEqual([one.deleted, one.prev?.map((kv) => kv.value)], [1, ["v2"]]);
        const deleted = await session.delete("s/", { prefix: true });
        assert.equal(deleted.deleted, 2);
        assert.equal(deleted.prev, undefined, "records only when asked for");
        assert.equal(session.outstanding, 0);
      } finally {
        session.close();
      }
    });

    await t.step(
      "a bad request gets 400 naming the field; the others in its frame run",
      async () => {
        const session = await KvSessionClient.connect(url, node.adminToken);
        try {
          const bad = session.put("", "x");
          const good = session.put("fine", "x");
          await assert.rejects(bad, (error: unknown) => {
            assert.ok(error instanceof KvSessionRequestError);
            assert.equal(error.status, 400);
            assert.equal(error.body.field, "key");
            return true;
          });
          assert.equal((await good).prev.length, 0);
        } finally {
          session.close();
        }
        const socket = await rawSocket(url, node.adminToken);
        const replies = new Promise<{ id: number; status: number; body: { field: string } }[]>(
          (resolve) => socket.onmessage = (event) => resolve(JSON.parse(event.data)),
        );
        socket.send(JSON.stringify([
          { id: 1, op: "put", key: "k", value: 3 },
          { id: 2, op: "cas", key: "k" },
          { id: 3, op: "put", key: "k", value: "v", ttl: 1 },
          { id: 4, op: "get", key: "k", consistency: "weird" },
          { id: 5, op: "range", prefix: "", limit: 10_001 },
          { id: 6, op: "delete", key: "k", prevKv: "yes" },
        ]));
        const answered = (await replies).sort((a, b) => a.id - b.id);
        assert.deepEqual(answered.map((r) => [r.status, r.body.field]), [
          [400, "value"],
          [400, "op"],
          [400, "ttl"],
          [400, "consistency"],
          [400, "limit"],
          [400, "prevKv"],
        ]);
        const closed = nextClose(socket);
        socket.close();
        await closed;
      },
    );

    await t.step("a frame that breaks the protocol closes the session with 1008", async () => {
      for (const frame of ["not json", "{}", '[{"op":"get","key":"k"}]', '[{"id":-1}]']) {
        const socket = await rawSocket(url, node.adminToken);
        const closed = nextClose(socket);
        socket.send(frame);
        const event = await closed;
        assert.equal(event.code, 1008, frame);
        assert.ok(event.reason.length > 0, frame);
      }
      const socket = await rawSocket(url, node.adminToken);
      const closed = nextClose(socket);
      socket.send(JSON.stringify([{ id: 7, op: "get", key: "k" }, { id: 7, op: "get", key: "k" }]));
      assert.equal((await closed).code, 1008, "an id used twice");
    });

    await t.step("plain requests and pages of another origin are refused", async () => {
      const plain = await adminFetch(`${url}/admin/kv-session`);
      assert.equal(plain.status, 400);
      assert.equal((await plain.json()).field, "upgrade");
      const foreign = await adminFetch(`${url}/admin/kv-session`, {
        headers: {
          upgrade: "websocket",
          connection: "Upgrade",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
          "sec-websocket-version": "13",
          origin: "https://evil.example",
        },
      });
      assert.equal(foreign.status, 403);
      await foreign.body?.cancel();
    });

    await t.step("closing fails waiting calls; an unsent write is known not applied", async () => {
      const session = await KvSessionClient.connect(url, node.adminToken);
      const unsent = session.put("never", "x");
      session.close();
      await assert.rejects(unsent, (error: unknown) => {
        assert.ok(error instanceof KvSessionClosedError);
        assert.equal(error.outcomeUnknown, false);
        return true;
      });
      await assert.rejects(session.get("never"), KvSessionClosedError);
      assert.equal(node.host.store.get("/user/never"), null);
    });
  } finally {
    await node.close();
    await Deno.remove(dir, { recursive: true });
  }
});
