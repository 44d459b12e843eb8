/**
 * Nemesis tests on a real 3-node cluster of processes on loopback: kill -9
 * the leader, SIGSTOP/SIGCONT the leader, restart a node with its data,
 * while clients write and read; the recorded history must be linearizable
 * (the simulator's checker), so no acknowledged write is lost.
 */
import assert from "node:assert/strict";
import { checkKvHistory } from "@safla/sim/checkers";
import { PeerTransport } from "@safla/transports/peer";
import { waitFor } from "@safla/transports/host/testing";
import { generateSecret } from "./cluster_args.ts";
import { LocalCluster } from "./local_cluster.ts";
import { KvHistory } from "./testing/kv_client.ts";

const KEYS = ["a", "b", "c"];
const CLIENTS = 4;
/** Bound on each client's operations, so the checker's work stays small. */
const MAX_OPS_PER_CLIENT = 2_000;
const CLIENT_TIMEOUT_MS = 4_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("nemesis: kill -9, SIGSTOP/SIGCONT and restart on a 3-process cluster lose no acknowledged write", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "nemesis-" });
  const logs = new Map<string, string[]>();
  const cluster = await LocalCluster.start({
    nodes: 3,
    basePort: 0,
    dataDir,
    secret: generateSecret(),
    clusterId: "nemesis",
    requestTimeoutMs: 2_000,
    onLog: (id, line) => {
      const lines = logs.get(id) ?? [];
      if (lines.length < 10_000) lines.push(line);
      logs.set(id, lines);
    },
  });
  const history = new KvHistory(await cluster.adminToken());
  let running = true;
  const clients: Promise<void>[] = [];
  try {
    await cluster.waitForLeader(30_000);

    for (let c = 0; c < CLIENTS; c++) {
      clients.push((async () => {
        for (let i = 0; i < MAX_OPS_PER_CLIENT && running; i++) {
          const ids = cluster.ids.filter((id) => cluster.running(id));
          const url = cluster.url(ids[(c + i) % ids.length]);
          const key = KEYS[(c * 7 + i) % KEYS.length];
          if (i % 3 === 2) await history.get(c, url, key, CLIENT_TIMEOUT_MS);
          else await history.put(c, url, key, `${c}-${i}`, CLIENT_TIMEOUT_MS);
          await sleep(5);
        }
      })());
    }

    await t.step(
      "kill -9 the leader, three times: another leads and the old one rejoins with its data",
      async () => {
        for (let round = 0; round < 3; round++) {
          await sleep(300);
          const leader = await cluster.waitForLeader(10_000);
          await cluster.kill(leader, "SIGKILL");
          const next = await cluster.waitForLeader(10_000, [leader]);
          assert.notEqual(next, leader);
          const before = history.counts.ok;
          await waitFor(
            "writes under the new leader",
            () => history.counts.ok > before + 20,
            10_000,
          );
          cluster.startNode(leader);
          await cluster.waitForReady(20_000);
        }
      },
    );

    await t.step("SIGSTOP the leader, then SIGCONT it: it steps down and rejoins", async () => {
      const leader = await cluster.waitForLeader(10_000);
      cluster.pause(leader);
      const next = await cluster.waitForLeader(10_000, [leader]);
      assert.notEqual(next, leader);
      await sleep(1_000);
      cluster.resume(leader);
      await waitFor("the paused node to follow", async () => {
        const s = await cluster.status(leader);
        return s !== undefined && s.role === "follower" && s.leader !== null && s.leader !== leader;
      }, 10_000);
    });

    await t.step("a follower killed during writes catches up after restart", async () => {
      const leader = await cluster.waitForLeader(10_000);
      const follower = cluster.ids.find((id) => id !== leader)!;
      await cluster.kill(follower, "SIGKILL");
      const before = history.counts.ok;
      await waitFor("writes without the follower", () => history.counts.ok > before + 20, 10_000);
      const target = (await cluster.status(leader))!.commitIndex;
      cluster.startNode(follower);
      await waitFor("the follower to catch up", async () => {
        const s = await cluster.status(follower);
        return s !== undefined && s.appliedIndex >= target;
      }, 20_000);
    });

    await t.step("an unauthenticated peer is rejected and logged", async () => {
      const victim = cluster.ids[0];
      const peer = cluster.members[victim].peer;
      const intruder = await PeerTransport.start({
        nodeId: "n2",
        clusterId: "nemesis",
        secret: "not-the-cluster-secret",
        hostname: "127.0.0.1",
        port: 0,
        peers: { [victim]: peer },
        onMessages: () => {},
        minBackoffMs: 20,
        maxBackoffMs: 50,
      });
      try {
        intruder.send([{
          type: "app",
          from: "n2",
          to: victim,
          term: 1_000_000,
          logTerm: 0,
          index: 0,
          commit: 0,
          entries: [],
          reject: false,
          rejectHint: 0,
        }]);
        await waitFor(
          "the rejection in the log",
          () =>
            (logs.get(victim) ?? []).some((l) =>
              l.includes("rejected peer connection") && l.includes("n2")
            ),
          5_000,
        );
      } finally {
        await intruder.close();
      }
      const status = await cluster.status(victim);
      assert.ok(status !== undefined && status.term < 1_000_000);
    });

    running = false;
    await Promise.all(clients);

    await t.step("the history is linearizable and every acknowledged write survives", async () => {
      await cluster.waitForReady(20_000);
      const url = cluster.url(await cluster.waitForLeader(10_000));
      for (const key of KEYS) {
        assert.equal(await history.get(99, url, key, CLIENT_TIMEOUT_MS), "ok");
      }
      const acknowledgedWrites = history.operations.filter((o) =>
        o.input.op === "put" && o.completeTime !== undefined
      ).length;
      assert.ok(acknowledgedWrites > 100, `only ${acknowledgedWrites} acknowledged writes`);
      const verdict = checkKvHistory(history.operations, { maxSteps: 2_000_000 });
      assert.equal(
        verdict.status,
        "linearizable",
        JSON.stringify({ verdict, counts: history.counts }).slice(0, 4000),
      );
    });
  } finally {
    running = false;
    await Promise.allSettled(clients);
    await cluster.stop();
    history.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
