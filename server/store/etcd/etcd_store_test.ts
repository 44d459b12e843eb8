import assert from "node:assert/strict";
import { Etcd3 } from "etcd3";
import type { WatchEvent } from "@safla/core/state";
import { runStateStoreContract } from "../contract.ts";
import { startEtcdCluster } from "./etcd_process.ts";
import { EtcdStore } from "./etcd_store.ts";
import { IGNORE_WITHOUT_ETCD } from "./etcd_presence.ts";

// Shorter Raft timeouts than etcd's defaults make its minimum lease TTL 1 s
// (1.5 × election timeout, rounded up), so the lease-expiry step is quick.
const CLUSTER = { members: 3, heartbeatIntervalMs: 50, electionTimeoutMs: 500 };

Deno.test({
  name: "EtcdStore meets the StateStore contract on a 3-member etcd cluster",
  ignore: IGNORE_WITHOUT_ETCD,
}, async (t) => {
  await using cluster = await startEtcdCluster(CLUSTER);
  const admin = new Etcd3({ hosts: cluster.clientUrls });
  try {
    await runStateStoreContract(
      t,
      () => Promise.resolve(new EtcdStore({ endpoints: cluster.endpoints })),
      {
        compact: async (revision) => {
          await admin.kv.compact({ revision, physical: true });
        },
        leaseExpirySlackMs: 8_000,
      },
    );
  } finally {
    admin.close();
  }
});

Deno.test({
  name: "EtcdStore watch resumes across a member crash without loss or duplication",
  ignore: IGNORE_WITHOUT_ETCD,
}, async () => {
  await using cluster = await startEtcdCluster(CLUSTER);
  // The watcher talks only to a follower, so killing it must break its
  // stream; the writer talks to the two members that stay up. (Killing the
  // leader would leave in-flight writes with an unknown outcome.)
  const victim = ((await cluster.leaderIndex()) + 1) % 3;
  const watching = new EtcdStore({
    endpoints: [cluster.endpoints[victim]],
    watchReconnectLimit: 100,
  });
  const writing = new EtcdStore({
    endpoints: cluster.endpoints.filter((_, i) => i !== victim),
  });
  try {
    const start = (await writing.put("crash/start", "0")).revision;
    const seen: WatchEvent[] = [];
    const ends: string[] = [];
    const handle = await watching.watch({ prefix: "crash/" }, (events) => seen.push(...events), {
      startRevision: start,
      onEnd: (end) => ends.push(end.reason),
    });
    const revisions = [start];
    for (let i = 0; i < 10; i++) revisions.push((await writing.put(`crash/${i}`, "a")).revision);
    await cluster.killMember(victim);
    for (let i = 0; i < 20; i++) {
      revisions.push((await writing.put(`crash/${i % 4}`, "b")).revision);
    }
    cluster.restartMember(victim);
    for (let i = 0; i < 10; i++) revisions.push((await writing.put(`crash/${i}`, "c")).revision);
    const deadline = Date.now() + 20_000;
    while (seen.length < revisions.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await handle.cancel();
    assert.deepEqual(ends, []);
    assert.deepEqual(seen.map((event) => event.revision), revisions);
  } finally {
    await watching.close();
    await writing.close();
  }
});

Deno.test({
  name: "EtcdStore: writes without a reachable member fail as unknown, reads as unavailable",
  ignore: IGNORE_WITHOUT_ETCD,
}, async () => {
  await using cluster = await startEtcdCluster({ ...CLUSTER, members: 1 });
  const store = new EtcdStore({ endpoints: cluster.endpoints, requestTimeoutMs: 500 });
  try {
    await store.put("k", "v");
    await cluster.killMember(0);
    await assert.rejects(store.put("k", "w"), { name: "EtcdStoreError", code: "outcomeUnknown" });
    await assert.rejects(store.get("k"), { name: "EtcdStoreError", code: "unavailable" });
  } finally {
    await store.close();
  }
  await assert.rejects(store.get("k"), { name: "EtcdStoreError", code: "rejected" });
});

Deno.test("EtcdStore refuses an empty endpoint list", () => {
  assert.throws(() => new EtcdStore({ endpoints: [] }), RangeError);
});

Deno.test({
  name: "EtcdStore: a comparison-only txn on a follower sees the write just acknowledged",
  ignore: IGNORE_WITHOUT_ETCD,
}, async () => {
  await using cluster = await startEtcdCluster(CLUSTER);
  const leader = await cluster.leaderIndex();
  const follower = (leader + 1) % 3;
  const writer = new EtcdStore({ endpoints: [cluster.endpoints[leader]] });
  const reader = new EtcdStore({ endpoints: [cluster.endpoints[follower]] });
  try {
    let stale = 0;
    for (let i = 0; i < 300; i++) {
      await writer.put("cas/k", `v${i}`);
      const reply = await reader.txn(
        [{ key: "cas/k", target: "value", result: "equal", value: `v${i}` }],
        [],
        [],
      );
      if (!reply.succeeded) stale++;
    }
    assert.equal(stale, 0, `${stale} of 300 comparison-only transactions saw a stale value`);
  } finally {
    await writer.close();
    await reader.close();
  }
});
