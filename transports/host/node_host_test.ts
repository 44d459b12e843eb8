import assert from "node:assert/strict";
import { type CommandResult, encodeCommand, type NodeReply } from "@safla/core";
import type { MemberAddress } from "./member_directory.ts";
import { NodeHost } from "./node_host.ts";
import { freePort, waitFor } from "./testing.ts";

const SECRET = "node-host-test-secret";

function addresses(ids: string[]): Record<string, MemberAddress> {
  return Object.fromEntries(
    ids.map((
      id,
    ) => [id, { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` }]),
  );
}

async function openHost(
  dir: string,
  id: string,
  members: Record<string, MemberAddress>,
  join = false,
): Promise<NodeHost> {
  return await NodeHost.open({
    nodeId: id,
    clusterId: "host-test",
    secret: SECRET,
    dataDir: `${dir}/${id}`,
    members,
    join,
    snapshotEveryEntries: 50,
    onFatal: (error) => {
      throw error;
    },
  });
}

function leaderOf(hosts: NodeHost[]): NodeHost | undefined {
  const leaders = hosts.filter((h) => !h.closed && h.status().role === "leader");
  return leaders.length === 1 ? leaders[0] : undefined;
}

async function put(host: NodeHost, key: string, value: string): Promise<NodeReply<CommandResult>> {
  return await host.request(
    { kind: "command", command: encodeCommand({ op: "put", key, value }) },
    5_000,
  );
}

Deno.test("NodeHost: three nodes in one process elect a leader, replicate, fail over and catch up", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "node-host-" });
  const ids = ["n1", "n2", "n3"];
  const members = addresses(ids);
  const hosts: NodeHost[] = [];
  try {
    for (const id of ids) hosts.push(await openHost(dir, id, members));

    await t.step("a leader is elected and writes replicate to every node", async () => {
      const leader = await waitFor("a leader", () => leaderOf(hosts), 5_000);
      for (let i = 0; i < 20; i++) {
        const reply = await put(leader, `k${i}`, `v${i}`);
        assert.equal(reply.ok, true);
      }
      for (const host of hosts) {
        await waitFor(`${host.id} to apply`, () => host.store.get("k19")?.value === "v19", 5_000);
      }
    });

    await t.step("concurrent proposals share fsyncs (group commit)", async () => {
      const leader = leaderOf(hosts)!;
      const before = leader.status().disk;
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) => put(leader, `burst${i % 10}`, `${i}`)),
      );
      assert.ok(replies.every((r) => r.ok));
      const after = leader.status().disk;
      const entries = after.entries - before.entries;
      const syncs = after.syncs - before.syncs;
      assert.ok(entries >= 200, `${entries} entries persisted`);
      assert.ok(syncs < entries / 4, `${syncs} syncs for ${entries} entries`);
    });

    await t.step("a follower forwards writes to the leader; reads get a leader hint", async () => {
      const leader = leaderOf(hosts)!;
      const follower = hosts.find((h) => h !== leader)!;
      const reply = await put(follower, "x", "y");
      assert.ok(reply.ok && "value" in reply && reply.value.ok && reply.value.op === "put");
      // Answered once applied on the follower itself, so it reads its own write.
      assert.equal(follower.store.get("x")?.value, "y");
      await waitFor("the leader to apply it", () => leader.store.get("x")?.value === "y", 5_000);
      const read = await follower.request(
        { kind: "read", query: { op: "get", key: "x" }, consistency: "linearizable" },
        5_000,
      );
      assert.ok(
        !read.ok && read.error.code === "NotLeader" && read.error.leaderHint === leader.id,
      );
    });

    await t.step("linearizable reads are served by the leader", async () => {
      const leader = leaderOf(hosts)!;
      const reply = await leader.request(
        { kind: "read", query: { op: "get", key: "k3" }, consistency: "linearizable" },
        5_000,
      );
      assert.ok(
        reply.ok && "value" in reply && reply.value.ok && reply.value.op === "get" &&
          reply.value.kv?.value === "v3",
      );
    });

    await t.step("after the leader stops, another leads and serves writes", async () => {
      const old = leaderOf(hosts)!;
      await old.close();
      const next = await waitFor("a new leader", () => leaderOf(hosts), 5_000);
      assert.notEqual(next.id, old.id);
      // Enough writes to cross a snapshot boundary, so the restart below needs the snapshot.
      for (let i = 0; i < 60; i++) assert.equal((await put(next, `after${i}`, `${i}`)).ok, true);
      const index = hosts.indexOf(old);
      hosts[index] = await openHost(dir, old.id, members);
      const back = hosts[index];
      await waitFor(
        `${back.id} to catch up`,
        () => back.store.get("after59")?.value === "59",
        8_000,
      );
      assert.equal(back.store.get("k0")?.value, "v0");
    });

    await t.step("restart keeps the durable state without any peer", async () => {
      const all = [...hosts];
      for (const host of all) await host.close();
      const solo = await openHost(dir, "n2", members);
      hosts.splice(0, hosts.length, solo);
      // Committed state is replayed from the WAL and snapshot before any election.
      await waitFor("replay", () => solo.store.get("after59")?.value === "59", 5_000);
      // The store was restored from the snapshot file as it streamed by; no copy stays in memory.
      assert.ok(solo.status().snapshot.index > 0);
      assert.equal(solo.status().snapshot.dataHeld, false);
      assert.equal(solo.status().role === "leader", false);
    });
  } finally {
    for (const host of hosts) await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NodeHost: a member is added, catches up through a snapshot, and is removed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "node-host-members-" });
  const members = addresses(["a", "b", "c", "d"]);
  const initial = { a: members.a, b: members.b, c: members.c };
  const hosts: NodeHost[] = [];
  try {
    for (const id of ["a", "b", "c"]) hosts.push(await openHost(dir, id, initial));
    const leader = await waitFor("a leader", () => leaderOf(hosts), 5_000);
    for (let i = 0; i < 80; i++) assert.equal((await put(leader, `k${i}`, `${i}`)).ok, true);
    // Once its file is durable the leader holds no snapshot bytes: d is served from the file.
    await waitFor("the leader to release its snapshot's bytes", () => {
      const { index, dataHeld } = leader.status().snapshot;
      return index > 0 && !dataHeld;
    }, 5_000);
    const d = await openHost(dir, "d", { ...initial, d: members.d }, true);
    hosts.push(d);
    const conf = await leader.changeMembership({ type: "addNode", nodeId: "d" }, members.d, 5_000);
    assert.deepEqual(conf.voters, ["a", "b", "c", "d"]);
    await waitFor("d to catch up", () => d.store.get("k79")?.value === "79", 8_000);
    await waitFor("d to release the received snapshot's bytes once durable", () => {
      const { index, dataHeld } = d.status().snapshot;
      return index > 0 && !dataHeld;
    }, 5_000);
    assert.equal(d.status().members.voters.length, 4);
    const after = await leader.changeMembership(
      { type: "removeNode", nodeId: "d" },
      undefined,
      5_000,
    );
    assert.deepEqual(after.voters, ["a", "b", "c"]);
    assert.equal(leader.memberAddress("d"), undefined);
    assert.equal((await put(leader, "still", "ok")).ok, true);
  } finally {
    for (const host of hosts) await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NodeHost: the WAL is released after snapshots and the leader compacts the history", async () => {
  const dir = await Deno.makeTempDir({ prefix: "node-host-compaction-" });
  const members = addresses(["a"]);
  const open = () =>
    NodeHost.open({
      nodeId: "a",
      clusterId: "host-test",
      secret: SECRET,
      dataDir: `${dir}/a`,
      members,
      snapshotEveryEntries: 50,
      walSegmentSizeBytes: 4096,
      autoCompactionMode: "revision",
      autoCompactionRetention: 10,
      autoCompactionIntervalMs: 0,
      timing: { tickMs: 10 },
      onFatal: (error) => {
        throw error;
      },
    });
  const walBytes = async () => {
    let total = 0;
    for await (const item of Deno.readDir(`${dir}/a/wal`)) {
      total += (await Deno.stat(`${dir}/a/wal/${item.name}`)).size;
    }
    return total;
  };
  let host = await open();
  try {
    await waitFor("a leader", () => host.status().role === "leader", 5_000);
    const value = "v".repeat(200);
    for (let i = 0; i < 400; i++) assert.equal((await put(host, `k${i % 20}`, value)).ok, true);
    const revision = host.store.revision;
    await waitFor(
      "a compaction to within the retention",
      () => host.store.compactRevision >= revision - 10,
      5_000,
    );
    assert.ok(host.store.history.size <= 10, `history holds ${host.store.history.size} events`);
    // 400 entries of ~250 bytes were written; segments before the last snapshot are gone.
    await waitFor("old WAL segments to be released", async () => await walBytes() < 40_000, 5_000);
    await host.close();
    host = await open();
    await waitFor("a leader after the restart", () => host.status().role === "leader", 5_000);
    assert.equal(host.store.size, 20);
    assert.ok(host.store.compactRevision >= revision - 10);
  } finally {
    await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("NodeHost: a stalled event loop is logged, and the late tick skipped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "node-host-stall-" });
  const lines: string[] = [];
  const host = await NodeHost.open({
    nodeId: "a",
    clusterId: "host-test",
    secret: SECRET,
    dataDir: `${dir}/a`,
    members: addresses(["a"]),
    timing: { tickMs: 20 },
    onLog: (line) => lines.push(line),
    onFatal: (error) => {
      throw error;
    },
  });
  try {
    await waitFor("a leader", () => host.status().role === "leader", 5_000);
    const stalled = () => lines.filter((line) => line.includes("event loop stalled"));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = stalled().length;
    const startedMs = performance.now();
    while (performance.now() - startedMs < 400) {
      // Holds the event loop, as applying one huge command does.
    }
    await waitFor("the stall to be logged", () => stalled().length > before, 2_000);
    const line = stalled().at(-1)!;
    const lateMs = Number(/stalled (\d+) ms/.exec(line)?.[1]);
    assert.ok(lateMs >= 300 && lateMs < 1_000, line);
    // Messages that queued during the stall are read before Raft counts a tick.
    assert.match(line, /this tick skipped/);
  } finally {
    await host.close();
    await Deno.remove(dir, { recursive: true });
  }
});
