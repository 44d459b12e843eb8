import assert from "node:assert/strict";
import { SeededRng } from "@safla/core";
import type { KvQuery } from "@safla/core/node";
import { type CommandResult, encodeCommand } from "@safla/core/state";
import { SimCluster } from "./cluster.ts";
import { Scheduler } from "./scheduler.ts";
import { PRODUCTION_PARTS } from "./simulation.ts";
import { swarmConfig } from "./swarm.ts";
import { Trace } from "./trace.ts";

function calmCluster(seed: number) {
  const base = swarmConfig(seed, 3);
  const config = {
    ...base,
    network: { ...base.network, lossRate: 0, duplicateRate: 0, reorderRate: 0 },
    snapshotEveryEntries: 0,
  };
  const scheduler = new Scheduler();
  const trace = new Trace(20);
  const replies: number[] = [];
  const cluster = new SimCluster<KvQuery, CommandResult>(
    scheduler,
    new SeededRng(seed),
    config,
    PRODUCTION_PARTS,
    trace,
    { onReply: (_node, requestId, reply) => reply.ok && replies.push(requestId) },
    {},
  );
  cluster.bootstrap();
  const leader = (): string | undefined =>
    cluster.ids.find((id) => cluster.process(id).node?.softState.role === "leader");
  scheduler.runUntil(3_000_000, 1_000_000);
  return { scheduler, cluster, trace, replies, leader };
}

Deno.test("a node restarts from its durable disk with its log and term", () => {
  const { scheduler, cluster, replies, leader } = calmCluster(3);
  const lead = leader();
  assert.ok(lead, "no leader elected");
  for (let i = 1; i <= 20; i++) {
    cluster.deliver(lead, {
      type: "request",
      requestId: i,
      request: { kind: "command", command: encodeCommand({ op: "put", key: "k", value: `${i}` }) },
    });
  }
  scheduler.runUntil(scheduler.nowUs + 1_000_000, 1_000_000);
  assert.equal(replies.length, 20);
  const follower = cluster.ids.find((id) => id !== lead)!;
  const before = cluster.process(follower).node!.storage;
  const lastIndex = before.lastIndex();
  const term = before.initialState().hardState.term;
  cluster.crash(follower);
  assert.equal(cluster.process(follower).status, "down");
  cluster.restart(follower);
  const after = cluster.process(follower).node!.storage;
  assert.equal(after.lastIndex(), lastIndex);
  assert.equal(after.initialState().hardState.term, term);
  assert.deepEqual(cluster.violations, []);
});

Deno.test("a node refuses to start from a corrupt disk and says why", () => {
  const { scheduler, cluster, leader } = calmCluster(4);
  const lead = leader()!;
  for (let i = 1; i <= 10; i++) {
    cluster.deliver(lead, {
      type: "request",
      requestId: i,
      request: { kind: "command", command: encodeCommand({ op: "put", key: "k", value: `${i}` }) },
    });
  }
  scheduler.runUntil(scheduler.nowUs + 1_000_000, 1_000_000);
  const victim = cluster.ids.find((id) => id !== lead)!;
  cluster.crash(victim);
  assert.equal(cluster.corruptDisk(victim), true);
  cluster.restart(victim);
  const p = cluster.process(victim);
  assert.equal(p.status, "refused");
  assert.match(p.refusal ?? "", /corrupt/);
  // The other two keep serving.
  scheduler.runUntil(scheduler.nowUs + 2_000_000, 1_000_000);
  assert.ok(leader());
  assert.deepEqual(cluster.violations, []);
});

Deno.test("paused nodes buffer events and catch up when resumed", () => {
  const { scheduler, cluster, leader } = calmCluster(5);
  const lead = leader()!;
  const follower = cluster.ids.find((id) => id !== lead)!;
  cluster.pause(follower);
  for (let i = 1; i <= 5; i++) {
    cluster.deliver(lead, {
      type: "request",
      requestId: i,
      request: { kind: "command", command: encodeCommand({ op: "put", key: "k", value: `${i}` }) },
    });
  }
  scheduler.runUntil(scheduler.nowUs + 500_000, 1_000_000);
  assert.ok(cluster.process(follower).pausedEvents.length > 0);
  const leaderLast = cluster.process(lead).node!.storage.lastIndex();
  cluster.resume(follower);
  scheduler.runUntil(scheduler.nowUs + 1_000_000, 1_000_000);
  assert.equal(cluster.process(follower).node!.storage.lastIndex(), leaderLast);
});
