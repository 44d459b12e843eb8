// A story through the whole package, as the gateway uses it: a node registers
// its services under a lease, keeps it alive, dies; the leader changes; the new
// leader's lessor expires the lease and every watcher sees the services vanish.
import assert from "node:assert/strict";
import { type Command, encodeCommand } from "./commands.ts";
import { KvStore } from "./kv.ts";
import { Lessor } from "./lease.ts";
import { WatchHub } from "./watch.ts";

class Cluster {
  readonly nodes = [new KvStore(), new KvStore(), new KvStore()];
  readonly log: Uint8Array[] = [];

  /** Commits a command: every node applies the same entry at the same index. */
  commit(cmd: Command, lessor: Lessor, nowMs: number): void {
    this.log.push(encodeCommand(cmd));
    const index = this.log.length;
    const results = this.nodes.map((node) => node.applyEntry(index, this.log[index - 1]));
    lessor.observe(results[0], nowMs);
    for (const result of results) assert.deepEqual(result, results[0]);
  }
}

Deno.test("scenario: a dead gateway node's services vanish after a leader change", () => {
  const cluster = new Cluster();
  let term = 1;
  let lessor = new Lessor();
  lessor.promote(0, cluster.nodes[0].leases());

  cluster.commit({ op: "leaseGrant", leaseId: 42, ttlMs: 3000, nowMs: 0 }, lessor, 0);
  cluster.commit({ op: "put", key: "services/search/node-b", value: "up", leaseId: 42 }, lessor, 0);
  cluster.commit({ op: "put", key: "services/files/node-b", value: "up", leaseId: 42 }, lessor, 0);
  cluster.commit({ op: "put", key: "services/files/node-c", value: "up" }, lessor, 0);

  // A client watches from the start on node 2.
  const hub = new WatchHub();
  const watchId = hub.watch(cluster.nodes[2], { pattern: "services/*/node-b" }, 1);
  const seen = () =>
    hub.poll(cluster.nodes[2]).flatMap((d) =>
      d.kind === "events" ? d.events.map((e) => `${e.type} ${e.kv.key}`) : []
    );
  assert.deepEqual(seen(), ["put services/search/node-b", "put services/files/node-b"]);

  // Heartbeats keep the lease alive past its first TTL.
  for (const nowMs of [2000, 4000]) {
    cluster.commit({ op: "leaseKeepAlive", leaseId: 42, nowMs }, lessor, nowMs);
    assert.deepEqual(lessor.expireCommands(nowMs + 1, term, cluster.nodes[0]), []);
  }

  // Node b dies at 4000 ms. At 6500 ms the leader decides to expire the lease, but it is
  // deposed before its proposal commits: the new leader (term 2) restarts every TTL.
  const stale = lessor.expireCommands(7000, term, cluster.nodes[0]);
  assert.equal(stale.length, 1);
  lessor.demote();
  term = 2;
  lessor = new Lessor();
  lessor.promote(7100, cluster.nodes[1].leases());
  assert.deepEqual(lessor.expireCommands(10_000, term, cluster.nodes[1]), [], "failover grace");

  // A late keep-alive from a client retry lands before the stale expiry commits: fenced.
  cluster.commit({ op: "leaseKeepAlive", leaseId: 42, nowMs: 7200 }, lessor, 7200);
  cluster.commit(stale[0], lessor, 7300);
  assert.equal(cluster.nodes[2].get("services/search/node-b")?.value, "up");

  // No more heartbeats: the new leader expires the lease one TTL after the last one.
  assert.deepEqual(lessor.expireCommands(10_199, term, cluster.nodes[1]), []);
  for (const cmd of lessor.expireCommands(10_200, term, cluster.nodes[1])) {
    cluster.commit(cmd, lessor, 10_200);
  }
  assert.deepEqual(seen(), ["delete services/files/node-b", "delete services/search/node-b"]);
  assert.deepEqual(cluster.nodes[0].range("services/", 10).kvs.map((kv) => kv.key), [
    "services/files/node-c",
  ]);
  assert.equal(hub.nextRevision(watchId), cluster.nodes[2].revision + 1);
  // Every node holds the same state, byte for byte.
  const snapshots = cluster.nodes.map((node) => node.snapshot());
  assert.deepEqual(snapshots[1], snapshots[0]);
  assert.deepEqual(snapshots[2], snapshots[0]);
});
