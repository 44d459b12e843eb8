import assert from "node:assert/strict";
import type { MemberAddress } from "@safla/transports/host";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { type RunningClusterNode, startClusterNode } from "../cluster_node.ts";
import { NoQuorumError } from "../../store/raft/errors.ts";
import { adminFetcher } from "../testing/admin_client.ts";
import { UserKeySpace } from "../../control/user_keys.ts";

const SECRET = "admin-api-test-secret";
const adminFetch = adminFetcher(SECRET);

function members(ids: string[]): Record<string, MemberAddress> {
  return Object.fromEntries(
    ids.map((
      id,
    ) => [id, { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` }]),
  );
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return await response.json() as Record<string, unknown>;
}

/**
 * Reads SSE events from `url` until `count` events arrived; each message's
 * data goes to `messages` when given.
 */
async function readWatch(
  url: string,
  count: number,
  timeoutMs: number,
  messages: { events: unknown[]; more?: boolean }[] = [],
): Promise<unknown[]> {
  const response = await adminFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: unknown[] = [];
  let buffer = "";
  try {
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const [eventLine, dataLine] = frame.split("\n");
        if (eventLine === "event: events") {
          const data = JSON.parse(dataLine.slice("data: ".length)) as {
            events: unknown[];
            more?: boolean;
          };
          messages.push(data);
          events.push(...data.events);
        }
      }
    }
  } finally {
    await reader.cancel();
  }
  return events;
}

Deno.test("admin API and RaftStore on a 3-node in-process cluster", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "admin-api-" });
  const ids = ["n1", "n2", "n3"];
  const addresses = members(ids);
  const nodes: RunningClusterNode[] = [];
  try {
    for (const id of ids) {
      nodes.push(
        await startClusterNode({
          nodeId: id,
          clusterId: "admin-test",
          secret: SECRET,
          dataDir: `${dir}/${id}`,
          members: addresses,
          requestTimeoutMs: 1_500,
        }),
      );
    }
    const leaderId = await waitFor("every node ready", async () => {
      const statuses = await Promise.all(nodes.map((n) => adminFetch(`${n.url}/readyz`)));
      await Promise.all(statuses.map((r) => r.body?.cancel()));
      return statuses.every((r) => r.status === 200) && nodes[0].host.status().leader;
    }, 5_000);
    const follower = nodes.find((n) => n.host.id !== leaderId)!;
    // What the admin API calls a key lives in the user key space of the store.
    const userKv = new UserKeySpace(follower.store);

    await t.step("livez and status report the cluster", async () => {
      assert.equal((await adminFetch(`${follower.url}/livez`)).status, 200);
      const status = await json(await adminFetch(`${follower.url}/admin/status`));
      assert.equal(status.leader, leaderId);
      assert.deepEqual((status.members as { voters: string[] }).voters, ids);
      assert.ok(typeof status.commitIndex === "number" && status.commitIndex >= 3);
      assert.ok(typeof status.peers === "object");
    });

    await t.step("a write to a follower is forwarded to the leader and reads back", async () => {
      const put = await adminFetch(`${follower.url}/admin/kv/services/a`, {
        method: "PUT",
        body: JSON.stringify({ value: "up" }),
      });
      assert.equal(put.status, 200, await put.clone().text());
      const revision = (await json(put)).revision as number;
      for (const node of nodes) {
        const got = await json(await adminFetch(`${node.url}/admin/kv/services/a`));
        assert.equal((got.kv as { value: string }).value, "up");
        assert.equal((got.kv as { modRevision: number }).modRevision, revision);
      }
      await userKv.put("services/b", "down");
      const range = await json(
        await adminFetch(`${follower.url}/admin/kv?prefix=services/&limit=1`),
      );
      assert.equal((range.kvs as unknown[]).length, 1);
      assert.equal(range.more, true);
      const missing = await adminFetch(`${follower.url}/admin/kv/nope`);
      assert.equal(missing.status, 404);
      await missing.body?.cancel();
    });

    await t.step("ranges page with after/next; prefix deletes answer a count", async () => {
      const keys = Array.from({ length: 25 }, (_, i) => `page/${String(i).padStart(2, "0")}`);
      await Promise.all(keys.map((key) => userKv.put(key, "v")));
      const seen: string[] = [];
      let after: string | undefined;
      for (let pages = 0;; pages++) {
        assert.ok(pages < 10, "paging ends");
        const query = `prefix=page/&limit=7${after ? `&after=${encodeURIComponent(after)}` : ""}`;
        const page = await json(await adminFetch(`${follower.url}/admin/kv?${query}`));
        seen.push(...(page.kvs as { key: string }[]).map((kv) => kv.key));
        if (!page.more) {
          assert.equal(page.next, undefined);
          break;
        }
        after = page.next as string;
      }
      assert.deepEqual(seen, keys, "every key exactly once, in order");
      const tooBig = await adminFetch(`${follower.url}/admin/kv?limit=10001`);
      assert.equal(tooBig.status, 400);
      assert.equal((await json(tooBig)).field, "limit");

      const withRecords = await adminFetch(
        `${follower.url}/admin/kv/page/0?prefix=true&prevKv=true`,
        {
          method: "DELETE",
        },
      );
      const deleted = await json(withRecords);
      assert.equal(deleted.deleted, 10);
      assert.equal((deleted.prev as unknown[]).length, 10);
      const counted = await json(
        await adminFetch(`${follower.url}/admin/kv/page/?prefix=true`, { method: "DELETE" }),
      );
      assert.equal(counted.deleted, 15);
      assert.equal(counted.prev, undefined, "records only when asked for");
      assert.equal((await userKv.range("page/")).kvs.length, 0);
    });

    await t.step(
      "a prefix delete asking for more records than the bound deletes nothing",
      async () => {
        const count = 1_001;
        for (let i = 0; i < count; i += 100) {
          await Promise.all(
            Array.from(
              { length: Math.min(100, count - i) },
              (_, j) => userKv.put(`bulk/${i + j}`, "v"),
            ),
          );
        }
        const refused = await adminFetch(`${follower.url}/admin/kv/bulk/?prefix=true&prevKv=true`, {
          method: "DELETE",
        });
        const body = await json(refused);
        assert.equal(refused.status, 413, JSON.stringify(body));
        assert.match(body.error as string, /more than 1000 records/);
        const listed = await userKv.range("bulk/", { limit: 2_000 });
        assert.equal(listed.kvs.length, count);
        const messages: { events: unknown[]; more?: boolean }[] = [];
        const watched = readWatch(
          `${follower.url}/admin/watch?prefix=bulk/&startRevision=${listed.revision + 1}`,
          count,
          10_000,
          messages,
        );
        const done = await json(
          await adminFetch(`${follower.url}/admin/kv/bulk/?prefix=true`, { method: "DELETE" }),
        );
        assert.equal(done.deleted, count);
        assert.equal((await watched).length, count, "every delete event arrives");
        assert.deepEqual(
          messages.map((m) => [m.events.length, m.more ?? false]),
          [[1_000, true], [1, false]],
          "one delete's events come in bounded messages",
        );
      },
    );

    await t.step("bad input gets 400 naming the field", async () => {
      const cases: Array<[string, RequestInit | undefined, string]> = [
        ["/admin/kv/x", { method: "PUT", body: JSON.stringify({ value: 1 }) }, "value"],
        ["/admin/kv/x", { method: "PUT", body: "not json" }, "body"],
        ["/admin/kv/x", { method: "PUT", body: JSON.stringify({ value: "v", ttl: 3 }) }, "ttl"],
        ["/admin/kv?limit=abc", undefined, "limit"],
        ["/admin/kv?after=", undefined, "after"],
        ["/admin/kv/x?prefix=true&prevKv=yes", { method: "DELETE" }, "prevKv"],
        ["/admin/kv/x?consistency=weird", undefined, "consistency"],
        ["/admin/watch?startRevision=0", undefined, "startRevision"],
        [
          "/admin/members",
          { method: "POST", body: JSON.stringify({ id: "n4", peer: "x" }) },
          "body.peer",
        ],
      ];
      for (const [path, init, field] of cases) {
        const response = await adminFetch(`${follower.url}${path}`, init);
        const body = await json(response);
        assert.equal(response.status, 400, `${path}: ${JSON.stringify(body)}`);
        assert.equal(body.field, field, path);
        assert.equal(typeof body.error, "string");
      }
    });

    await t.step("forwarding without the cluster token is refused", async () => {
      const response = await adminFetch(`${nodes[0].url}/cluster/v1/submit`, {
        method: "POST",
        headers: { "x-safla-cluster-auth": "guessed" },
        body: JSON.stringify({
          requests: [{ kind: "command", command: { op: "put", key: "k", value: "v" } }],
          timeoutMs: 1000,
        }),
      });
      assert.equal(response.status, 401);
      await response.body?.cancel();
      assert.equal(await follower.store.get("k"), undefined);
    });

    await t.step("watch streams events from a start revision as SSE", async () => {
      const first = await userKv.put("w/1", "a");
      await userKv.put("w/2", "b");
      await userKv.delete("w/1");
      const events = await readWatch(
        `${follower.url}/admin/watch?prefix=w/&startRevision=${first.revision}`,
        3,
        5_000,
      ) as Array<{ type: string; kv: { key: string } }>;
      assert.deepEqual(events.map((e) => [e.type, e.kv.key]), [["put", "w/1"], ["put", "w/2"], [
        "delete",
        "w/1",
      ]]);
    });

    await t.step("delete with a prefix reports what it deleted", async () => {
      const response = await adminFetch(`${follower.url}/admin/kv/services/?prefix=true`, {
        method: "DELETE",
      });
      const body = await json(response);
      assert.equal(response.status, 200);
      assert.equal(body.deleted, 2);
    });

    await t.step("leases: keys vanish when their lease is revoked", async () => {
      const lease = await follower.store.leaseGrant(60_000);
      await follower.store.put("owned", "x", { leaseId: lease });
      assert.equal(await follower.store.leaseKeepAlive(lease), true);
      await follower.store.leaseRevoke(lease);
      assert.equal(await follower.store.get("owned"), undefined);
      assert.equal(await follower.store.leaseKeepAlive(lease), false);
    });

    await t.step(
      "a fourth node joins through a follower's admin API and leaves again",
      async () => {
        const n4 = members(["n4"]).n4;
        const joiner = await startClusterNode({
          nodeId: "n4",
          clusterId: "admin-test",
          secret: SECRET,
          dataDir: `${dir}/n4`,
          members: { ...addresses, n4 },
          join: true,
        });
        nodes.push(joiner);
        const added = await adminFetch(`${follower.url}/admin/members`, {
          method: "POST",
          body: JSON.stringify({ id: "n4", ...n4 }),
        });
        const body = await json(added);
        assert.equal(added.status, 200, JSON.stringify(body));
        assert.deepEqual((body.members as { voters: string[] }).voters, ["n1", "n2", "n3", "n4"]);
        await waitFor(
          "n4 to apply the data",
          () => joiner.host.store.get("/user/w/2")?.value === "b",
          5_000,
        );
        const removed = await adminFetch(`${follower.url}/admin/members/n4`, { method: "DELETE" });
        const after = await json(removed);
        assert.equal(removed.status, 200, JSON.stringify(after));
        assert.deepEqual((after.members as { voters: string[] }).voters, ids);
        nodes.splice(nodes.indexOf(joiner), 1);
        await joiner.close();
      },
    );

    await t.step("a node cut off from the majority refuses writes with 503", async () => {
      const survivor = follower;
      for (const node of nodes.filter((n) => n !== survivor)) await node.close();
      nodes.splice(0, nodes.length, survivor);
      // Once its election timeout passes without a leader, the node knows it is cut off.
      await waitFor(
        "the survivor to lose its leader",
        () => survivor.host.status().leader === null,
        5_000,
      );
      assert.equal((await adminFetch(`${survivor.url}/readyz`)).status, 503);
      const response = await adminFetch(`${survivor.url}/admin/kv/minority`, {
        method: "PUT",
        body: JSON.stringify({ value: "lost" }),
      });
      const body = await json(response);
      assert.equal(response.status, 503, JSON.stringify(body));
      assert.match(body.error as string, /cannot reach a leader/);
      await assert.rejects(() => survivor.store.put("minority", "x"), NoQuorumError);
    });
  } finally {
    for (const node of nodes) await node.close();
    await Deno.remove(dir, { recursive: true });
  }
});
