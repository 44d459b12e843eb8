import assert from "node:assert/strict";
import { SeededRng } from "../rng.ts";
import { newMessage } from "../raft/raft.ts";
import { RawNode } from "../raft/rawnode.ts";
import { emptyConfState, MemoryStorage } from "../raft/storage.ts";
import type { Message } from "../raft/types.ts";
import { encodeCommand } from "../state/commands.ts";
import { type CommandResult, KvStore } from "../state/kv.ts";
import { type KvQuery, KvStateMachine } from "./kv_state_machine.ts";
import { ClusterNode } from "./node.ts";
import type { SnapshotTransferConfig } from "./snapshot_transfer.ts";
import type { NodeEffect } from "./types.ts";

type Effect = NodeEffect<CommandResult>;

function makeNode(
  id: string,
  peers: string[],
  seed: number,
  asyncLeaderAppend = false,
  forwardProposals = false,
  snapshotEveryEntries = 0,
  snapshotTransfer: Partial<SnapshotTransferConfig> = {},
  onRaft: (raft: RawNode) => void = () => {},
): ClusterNode<KvQuery, CommandResult> {
  const storage = new MemoryStorage();
  const raft = new RawNode({
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    storage,
    rng: new SeededRng(seed),
    checkQuorum: true,
    preVote: true,
    asyncLeaderAppend,
  });
  raft.bootstrap(peers);
  onRaft(raft);
  return new ClusterNode({
    id,
    raft,
    storage,
    stateMachine: new KvStateMachine(),
    appliedIndex: 0,
    confState: emptyConfState(),
    rng: new SeededRng(seed + 100),
    snapshotEveryEntries,
    maxPendingRequests: 100,
    forwardProposals,
    snapshotTransfer,
  });
}

/**
 * Delivers every effect of every node until quiet, acknowledging persists at
 * once; messages `deliverable` refuses are dropped.
 */
function settle(
  nodes: Map<string, ClusterNode<KvQuery, CommandResult>>,
  first: Array<[string, Effect[]]>,
  deliverable: (m: Message) => boolean = () => true,
) {
  const replies: Effect[] = [];
  const queue = [...first];
  for (let steps = 0; queue.length > 0; steps++) {
    assert.ok(steps < 10_000, "cluster did not settle");
    const [id, effects] = queue.shift()!;
    for (const e of effects) {
      if (e.type === "persist") {
        queue.push([id, nodes.get(id)!.handle({ type: "persisted", persistId: e.persistId })]);
      } else if (e.type === "send") {
        for (const m of e.messages) {
          if (!deliverable(m)) continue;
          queue.push([m.to, nodes.get(m.to)!.handle({ type: "message", message: m })]);
        }
      } else if (e.type === "reply") replies.push(e);
    }
  }
  return replies;
}

/** Nodes a, b and c, with a elected leader and everything delivered. */
function electedCluster(
  options: { asyncLeaderAppend?: boolean; forwardProposals?: boolean } = {},
): Map<string, ClusterNode<KvQuery, CommandResult>> {
  const ids = ["a", "b", "c"];
  const { asyncLeaderAppend, forwardProposals } = options;
  const node = (id: string, i: number) =>
    makeNode(id, ids, i + 1, asyncLeaderAppend, forwardProposals);
  const nodes = new Map(ids.map((id, i) => [id, node(id, i)]));
  settle(nodes, ids.map((id) => [id, nodes.get(id)!.handle({ type: "tick" })]));
  settle(nodes, [["a", nodes.get("a")!.handle({ type: "campaign" })]]);
  assert.equal(nodes.get("a")!.softState.role, "leader");
  return nodes;
}

for (const asyncLeaderAppend of [false, true]) {
  Deno.test(`nothing leaves the node before the writes it depends on are durable (asyncLeaderAppend: ${asyncLeaderAppend})`, () => {
    const node = makeNode("a", ["a", "b", "c"], 1, asyncLeaderAppend);
    const boot = node.handle({ type: "tick" });
    const bootPersist = boot.find((e) => e.type === "persist");
    assert.ok(bootPersist?.type === "persist" && bootPersist.entries.length === 3);
    node.handle({ type: "persisted", persistId: bootPersist.persistId });
    let effects = node.handle({ type: "campaign" });
    // The campaign's term (and, after PreVote, its vote) must be persisted first.
    for (let round = 0; round < 5; round++) {
      const persist = effects.find((e) => e.type === "persist");
      assert.ok(
        effects.every((e) => e.type !== "send" || persist === undefined),
        "send beside persist",
      );
      if (!persist || persist.type !== "persist") break;
      assert.ok(node.awaitingPersist);
      assert.deepEqual(node.handle({ type: "tick" }).filter((e) => e.type === "send"), []);
      effects = node.handle({ type: "persisted", persistId: persist.persistId });
    }
    const sends = effects.filter((e) => e.type === "send");
    assert.equal(sends.length, 1);
    const votes = sends[0].type === "send" ? sends[0].messages : [];
    assert.ok(votes.length === 2 && votes.every((m) => m.type === "preVote" || m.type === "vote"));
    assert.throws(() => node.handle({ type: "persisted", persistId: 999 }), /in flight/);
  });
}

Deno.test("with asyncLeaderAppend a leader's appends leave before its persist, responses after", () => {
  const nodes = electedCluster({ asyncLeaderAppend: true });
  const [a, b] = [nodes.get("a")!, nodes.get("b")!];
  assert.equal(a.softState.role, "leader");

  const proposed = a.handle({
    type: "request",
    requestId: 5,
    request: { kind: "command", command: encodeCommand({ op: "put", key: "k", value: "v" }) },
  });
  assert.deepEqual(proposed.map((e) => e.type), ["send", "persist"]);
  const [send, ownPersist] = proposed;
  assert.ok(send.type === "send" && ownPersist.type === "persist");
  assert.deepEqual(send.messages.map((m) => [m.type, m.to]).sort(), [["app", "b"], ["app", "c"]]);
  const index = ownPersist.entries[0].index;
  assert.ok(send.messages.every((m) => m.entries.some((e) => e.index === index)));

  // The follower answers only once its own write is durable.
  const toB = send.messages.find((m) => m.to === "b")!;
  const followerEffects = b.handle({ type: "message", message: toB });
  assert.deepEqual(followerEffects.map((e) => e.type), ["persist"]);
  const followerPersist = followerEffects[0];
  assert.ok(followerPersist.type === "persist");
  const answered = b.handle({ type: "persisted", persistId: followerPersist.persistId });
  const resp = answered.flatMap((e) => e.type === "send" ? e.messages : []);
  assert.deepEqual(resp.map((m) => [m.type, m.to, m.index]), [["appResp", "a", index]]);

  // The leader does not answer while its own write is outstanding...
  const beforeOwn = a.handle({ type: "message", message: resp[0] });
  assert.ok(a.awaitingPersist);
  assert.ok(beforeOwn.every((e) => e.type !== "reply" && e.type !== "applied"));
  // ...and answers once it is durable (after the commit-only hard state it leads to).
  let afterOwn = a.handle({ type: "persisted", persistId: ownPersist.persistId });
  for (let round = 0; round < 3 && !afterOwn.some((e) => e.type === "reply"); round++) {
    const commitPersist = afterOwn.find((e) => e.type === "persist");
    if (commitPersist?.type !== "persist") break;
    assert.ok(!commitPersist.mustSync && commitPersist.entries.length === 0);
    afterOwn = a.handle({ type: "persisted", persistId: commitPersist.persistId });
  }
  const reply = afterOwn.find((e) => e.type === "reply");
  assert.ok(reply?.type === "reply" && reply.requestId === 5 && reply.reply.ok);
  assert.equal(a.appliedIndex, index);
});

Deno.test("a three-node cluster elects, commits a put, and answers reads", () => {
  const nodes = electedCluster();
  assert.equal(nodes.get("a")!.softState.role, "leader");

  const refused = nodes.get("b")!.handle({
    type: "request",
    requestId: 1,
    request: { kind: "command", command: encodeCommand({ op: "put", key: "k", value: "v" }) },
  });
  assert.deepEqual(refused, [{
    type: "reply",
    requestId: 1,
    reply: { ok: false, error: { code: "NotLeader", leaderHint: "a", outcomeUnknown: false } },
  }]);

  const put = settle(nodes, [[
    "a",
    nodes.get("a")!.handle({
      type: "request",
      requestId: 2,
      request: { kind: "command", command: encodeCommand({ op: "put", key: "k", value: "v" }) },
    }),
  ]]);
  assert.equal(put.length, 1);
  const putReply = put[0].type === "reply" ? put[0].reply : undefined;
  assert.ok(
    putReply?.ok && "value" in putReply && putReply.value.ok && putReply.value.op === "put" &&
      putReply.value.kv.value === "v",
  );

  const read = settle(nodes, [[
    "a",
    nodes.get("a")!.handle({
      type: "request",
      requestId: 3,
      request: { kind: "read", query: { op: "get", key: "k" }, consistency: "linearizable" },
    }),
  ]]);
  const readReply = read[0]?.type === "reply" ? read[0].reply : undefined;
  assert.ok(
    readReply?.ok && "value" in readReply && readReply.value.ok &&
      readReply.value.op === "get" && readReply.value.kv?.value === "v",
  );

  const local = nodes.get("c")!.handle({
    type: "request",
    requestId: 4,
    request: { kind: "read", query: { op: "get", key: "k" }, consistency: "serializable" },
  });
  assert.equal(local.length, 1);
});

Deno.test("a deposed leader answers its pending writes as outcome-unknown", () => {
  const nodes = electedCluster();
  const a = nodes.get("a")!;
  // The proposal is persisted locally but its appends are dropped.
  const proposed = a.handle({
    type: "request",
    requestId: 7,
    request: { kind: "command", command: encodeCommand({ op: "put", key: "k", value: "v" }) },
  });
  const own = proposed.find((e) => e.type === "persist");
  assert.ok(own?.type === "persist");
  assert.ok(
    a.handle({ type: "persisted", persistId: own.persistId }).some((e) => e.type === "send"),
  );
  // A higher-term message deposes it.
  const effects = a.handle({
    type: "message",
    message: newMessage({ type: "heartbeat", from: "b", to: "a", term: 99 }),
  });
  let all = effects;
  for (let i = 0; i < 5; i++) {
    const p = all.find((e) => e.type === "persist");
    if (!p || p.type !== "persist") break;
    const next = a.handle({ type: "persisted", persistId: p.persistId });
    all = [...all, ...next];
    if (next.every((e) => e.type !== "persist")) break;
  }
  const reply = all.find((e) => e.type === "reply");
  assert.ok(reply && reply.type === "reply");
  assert.deepEqual(reply.reply, {
    ok: false,
    error: { code: "LeadershipLost", term: 99, outcomeUnknown: true },
  });
});

Deno.test("a cancelled request is forgotten and frees its slot", () => {
  const nodes = electedCluster();
  const a = nodes.get("a")!;
  // A read whose heartbeat round is never delivered stays pending...
  a.handle({
    type: "request",
    requestId: 9,
    request: { kind: "read", query: { op: "get", key: "k" }, consistency: "linearizable" },
  });
  assert.equal(a.pendingRequests, 1);
  // ...until the driver gives up on it.
  assert.deepEqual(a.handle({ type: "cancel", requestId: 9 }), []);
  assert.equal(a.pendingRequests, 0);
});

function putRequest(requestId: number, value: string, key = "k") {
  return {
    type: "request" as const,
    requestId,
    request: {
      kind: "command" as const,
      command: encodeCommand({ op: "put", key, value }),
    },
  };
}

Deno.test("voters take their snapshots at different indices, each every snapshotEveryEntries", () => {
  const ids = ["a", "b", "c"];
  const every = 30;
  const nodes = new Map(ids.map((id, i) => [id, makeNode(id, ids, i + 1, false, false, every)]));
  const snapshots = new Map<string, number[]>(ids.map((id) => [id, []]));
  const deliver = (first: Array<[string, Effect[]]>) => {
    const queue = [...first];
    for (let steps = 0; queue.length > 0; steps++) {
      assert.ok(steps < 10_000, "cluster did not settle");
      const [id, effects] = queue.shift()!;
      for (const e of effects) {
        if (e.type === "snapshotTaken") snapshots.get(id)!.push(e.snapshot.metadata.index);
        if (e.type === "persist") {
          queue.push([id, nodes.get(id)!.handle({ type: "persisted", persistId: e.persistId })]);
        } else if (e.type === "send") {
          for (const m of e.messages) {
            queue.push([m.to, nodes.get(m.to)!.handle({ type: "message", message: m })]);
          }
        }
      }
    }
  };
  deliver(ids.map((id) => [id, nodes.get(id)!.handle({ type: "tick" })]));
  deliver([["a", nodes.get("a")!.handle({ type: "campaign" })]]);
  for (let i = 1; i <= 100; i++) {
    deliver([["a", nodes.get("a")!.handle(putRequest(i, `v${i}`))]]);
    // The state is encoded on ticks; this one is small enough for one.
    deliver(ids.map((id) => [id, nodes.get(id)!.handle({ type: "tick" })]));
  }
  const applied = nodes.get("a")!.appliedIndex;
  assert.ok(applied > 3 * every);
  // One entry applied at a time: each voter snapshots exactly at its phase (0, 10, 20) + k * 30.
  assert.deepEqual(snapshots.get("a"), [30, 60, 90].filter((i) => i <= applied));
  assert.deepEqual(snapshots.get("b"), [10, 40, 70, 100].filter((i) => i <= applied));
  assert.deepEqual(snapshots.get("c"), [20, 50, 80].filter((i) => i <= applied));
});

Deno.test("a large state is encoded over ticks, and the log compacted only once it is complete", () => {
  const every = 9_000;
  const a = makeNode("a", ["a"], 1, false, false, every);
  const taken: number[] = [];
  let requestId = 0;
  const run = (event: Parameters<typeof a.handle>[0]): void => {
    const queue = [event];
    for (let steps = 0; queue.length > 0; steps++) {
      assert.ok(steps < 1_000, "node did not settle");
      for (const e of a.handle(queue.shift()!)) {
        if (e.type === "persist") queue.push({ type: "persisted", persistId: e.persistId });
        if (e.type === "snapshotTaken") {
          taken.push(e.snapshot.metadata.index);
          // The bytes are the state as of the snapshot's index, not of now.
          assert.equal(KvStore.restore(e.snapshot.data).appliedIndex, e.snapshot.metadata.index);
        }
      }
    }
  };
  const put = () => {
    const command = encodeCommand({ op: "put", key: `k/${requestId}`, value: "v" });
    run({ type: "request", requestId: ++requestId, request: { kind: "command", command } });
  };
  run({ type: "tick" });
  run({ type: "campaign" });
  while (a.appliedIndex < every) put();
  // ~9 000 records and 9 000 watch events: five steps of 4 000 items, one per tick.
  const firstIndex = a.storage.firstIndex();
  for (let tick = 1; tick <= 4; tick++) {
    put(); // applies go on meanwhile
    run({ type: "tick" });
    assert.deepEqual(taken, [], `tick ${tick}`);
    assert.equal(a.storage.firstIndex(), firstIndex);
  }
  run({ type: "tick" });
  assert.deepEqual(taken, [every]);
  // The newest 1/20 of the entries it covers stay for followers a little behind.
  assert.equal(a.storage.firstIndex(), every - every / 20 + 1);
  assert.ok(a.appliedIndex > every);
});

Deno.test("a follower a little behind a snapshot catches up with appends, not the snapshot", () => {
  const ids = ["a", "b", "c"];
  const every = 100; // keeps 5 entries behind each snapshot
  const nodes = new Map(ids.map((id, i) => [id, makeNode(id, ids, i + 1, false, false, every)]));
  let cut = false;
  const sentToC: string[] = [];
  const deliver = (first: Array<[string, Effect[]]>) =>
    settle(nodes, first, (m) => {
      if (m.to !== "c") return true;
      if (!cut) sentToC.push(m.type);
      return !cut;
    });
  const tickAll = () => deliver(ids.map((id) => [id, nodes.get(id)!.handle({ type: "tick" })]));
  tickAll();
  deliver([["a", nodes.get("a")!.handle({ type: "campaign" })]]);
  const a = nodes.get("a")!;
  let requestId = 0;
  while (a.appliedIndex < every - 2) {
    deliver([["a", a.handle(putRequest(++requestId, "v"))]]);
    tickAll();
  }
  // c misses the last entries before a's snapshot point and the first after it.
  cut = true;
  while (a.appliedIndex < every + 1) deliver([["a", a.handle(putRequest(++requestId, "v"))]]);
  tickAll(); // a encodes and compacts
  assert.equal(a.storage.firstIndex(), every - 5 + 1);
  const cApplied = nodes.get("c")!.appliedIndex;
  assert.ok(cApplied < every - 1 && cApplied >= a.storage.firstIndex() - 1, `c at ${cApplied}`);
  cut = false;
  sentToC.length = 0;
  for (let i = 0; i < 5; i++) tickAll();
  assert.ok(!sentToC.some((t) => t.startsWith("snap")), `sent to c: ${sentToC}`);
  assert.equal(nodes.get("c")!.appliedIndex, a.appliedIndex);
});

Deno.test("a follower far behind catches up from a snapshot streamed in bounded chunks, some lost", () => {
  const ids = ["a", "b", "c"];
  const every = 20;
  const chunkBytes = 256;
  const nodes = new Map(
    ids.map((id, i) => [id, makeNode(id, ids, i + 1, false, false, every, { chunkBytes })]),
  );
  let cut = false;
  let chunksToC = 0;
  let largestChunkBytes = 0;
  const sentTypes = new Set<string>();
  const deliver = (first: Array<[string, Effect[]]>) =>
    settle(nodes, first, (m) => {
      sentTypes.add(m.type);
      if (m.type === "snapChunk") {
        largestChunkBytes = Math.max(largestChunkBytes, m.snapshot!.data.length);
        // Every third chunk is lost: resent on a repeated ack or a timeout.
        if (++chunksToC % 3 === 0) return false;
      }
      return m.to !== "c" || !cut;
    });
  const tickAll = () => deliver(ids.map((id) => [id, nodes.get(id)!.handle({ type: "tick" })]));
  tickAll();
  deliver([["a", nodes.get("a")!.handle({ type: "campaign" })]]);
  const a = nodes.get("a")!;
  const term = a.term;
  cut = true;
  let requestId = 0;
  const value = "v".repeat(100);
  while (a.appliedIndex < 3 * every) {
    deliver([["a", a.handle(putRequest(++requestId, value, `k${requestId}`))]]);
    tickAll();
  }
  assert.ok(a.storage.firstIndex() > nodes.get("c")!.appliedIndex + 1, "c needs a snapshot");
  const snapshotBytes = a.storage.snapshot().data.length;
  assert.ok(snapshotBytes > 10 * chunkBytes, `snapshot of ${snapshotBytes} bytes`);
  cut = false;
  for (let i = 0; i < 200 && nodes.get("c")!.appliedIndex < a.appliedIndex; i++) tickAll();
  const c = nodes.get("c")!;
  assert.equal(c.appliedIndex, a.appliedIndex);
  assert.ok(chunksToC >= snapshotBytes / chunkBytes, `${chunksToC} chunks`);
  assert.equal(largestChunkBytes, chunkBytes);
  assert.ok(!sentTypes.has("snap"), "no whole snapshot on the wire");
  assert.equal(a.term, term, "the transfer caused no election");
  assert.equal(a.softState.role, "leader");
  const query = { kind: "read" as const, consistency: "serializable" as const };
  const key = `k${requestId}`;
  const read = (node: ClusterNode<KvQuery, CommandResult>) =>
    node.handle({
      type: "request",
      requestId: 999,
      request: { ...query, query: { op: "get", key } },
    });
  assert.deepEqual(read(c), read(a));
});

Deno.test("a snapshot transfer given up after its stall bound is started again by Raft, and completes", () => {
  const ids = ["a", "b", "c"];
  const transfer = { chunkBytes: 256, ackTimeoutTicks: 2, maxStalledTimeouts: 1 };
  const reports: boolean[] = [];
  const spy = (raft: RawNode) => {
    const report = raft.reportSnapshot.bind(raft);
    raft.reportSnapshot = (id, ok) => {
      reports.push(ok);
      report(id, ok);
    };
  };
  const nodes = new Map(
    ids.map((id, i) => [id, makeNode(id, ids, i + 1, false, false, 20, transfer, spy)]),
  );
  let cut = false;
  let chunksBlocked = false;
  const firstChunks: number[] = [];
  let tick = 0;
  const deliver = (first: Array<[string, Effect[]]>) =>
    settle(nodes, first, (m) => {
      if (m.type === "snapChunk" && m.index === 0) firstChunks.push(tick);
      if (m.type === "snapChunk" && chunksBlocked) return false;
      return m.to !== "c" || !cut;
    });
  const tickAll = () => {
    tick++;
    deliver(ids.map((id) => [id, nodes.get(id)!.handle({ type: "tick" })]));
  };
  tickAll();
  deliver([["a", nodes.get("a")!.handle({ type: "campaign" })]]);
  const a = nodes.get("a")!;
  cut = true;
  for (let requestId = 1; a.appliedIndex < 60; requestId++) {
    deliver([["a", a.handle(putRequest(requestId, "v".repeat(100), `k${requestId}`))]]);
    tickAll();
  }
  // Heartbeats reach c, snapshot chunks never do.
  cut = false;
  chunksBlocked = true;
  firstChunks.length = 0;
  for (let i = 0; i < 30; i++) tickAll();
  const c = nodes.get("c")!;
  assert.ok(c.appliedIndex < a.storage.firstIndex(), "c is still behind");
  // Raft heard of every stalled transfer as failed, never as delivered, and
  // started the snapshot again each time (its first chunk went out anew).
  assert.ok(reports.length >= 3 && reports.every((ok) => !ok), `reports: ${reports}`);
  assert.ok(firstChunks.at(-1)! > tick - 6, `first chunks at ticks ${firstChunks}`);
  chunksBlocked = false;
  for (let i = 0; i < 30 && c.appliedIndex < a.appliedIndex; i++) tickAll();
  assert.equal(c.appliedIndex, a.appliedIndex);
  assert.equal(reports.at(-1), true);
});

Deno.test("with forwardProposals a follower forwards a command and answers it on apply, once", () => {
  const nodes = electedCluster({ forwardProposals: true });
  const [a, b] = [nodes.get("a")!, nodes.get("b")!];
  const forwarded = b.handle(putRequest(1, "v"));
  // Straight out, stamped with the leader's term: nothing to persist first.
  assert.deepEqual(forwarded.map((e) => e.type), ["send"]);
  const [prop] = forwarded[0].type === "send" ? forwarded[0].messages : [];
  assert.deepEqual([prop.type, prop.to, prop.logTerm], ["prop", "a", b.term]);

  const replies = settle(nodes, [["b", forwarded]]);
  assert.equal(replies.length, 1);
  const reply = replies[0].type === "reply" ? replies[0] : undefined;
  assert.ok(reply?.requestId === 1 && reply.reply.ok && "value" in reply.reply);
  assert.ok(reply.reply.value.ok && reply.reply.value.op === "put");
  const last = a.storage.lastIndex();

  // A second delivery of the same proposal (a duplicating network) is not appended again.
  assert.deepEqual(settle(nodes, [["a", a.handle({ type: "message", message: prop })]]), []);
  assert.equal(a.storage.lastIndex(), last);
  assert.equal(b.pendingRequests, 0);
  // Membership changes and reads are still only the leader's to take.
  const read = b.handle({
    type: "request",
    requestId: 2,
    request: { kind: "read", query: { op: "get", key: "k" }, consistency: "linearizable" },
  });
  assert.ok(read[0].type === "reply" && !read[0].reply.ok);
  assert.equal(read[0].reply.error.code, "NotLeader");
});

Deno.test("a follower's forwarded commands fail as outcome-unknown when its term changes", () => {
  const nodes = electedCluster({ forwardProposals: true });
  const b = nodes.get("b")!;
  // The forwarded proposal is lost on the way.
  assert.deepEqual(b.handle(putRequest(3, "lost")).map((e) => e.type), ["send"]);
  assert.equal(b.pendingRequests, 1);
  let effects = b.handle({
    type: "message",
    message: newMessage({ type: "heartbeat", from: "c", to: "b", term: 99 }),
  });
  const all = [...effects];
  for (let i = 0; i < 5; i++) {
    const p = effects.find((e) => e.type === "persist");
    if (!p || p.type !== "persist") break;
    effects = b.handle({ type: "persisted", persistId: p.persistId });
    all.push(...effects);
  }
  const reply = all.find((e) => e.type === "reply");
  assert.ok(reply?.type === "reply" && reply.requestId === 3);
  assert.deepEqual(reply.reply, {
    ok: false,
    error: { code: "LeadershipLost", term: 99, outcomeUnknown: true },
  });
  assert.equal(b.pendingRequests, 0);
});

Deno.test("a committed, durable entry is answered without waiting for the fsync of newer entries", () => {
  const nodes = electedCluster();
  const [a, b] = [nodes.get("a")!, nodes.get("b")!];
  const persistOf = (effects: Effect[]) => {
    const p = effects.find((e) => e.type === "persist");
    assert.ok(p?.type === "persist");
    return p;
  };
  // Request 1 is durable on the leader and its appends leave.
  const p1 = persistOf(a.handle(putRequest(1, "one")));
  const sent = a.handle({ type: "persisted", persistId: p1.persistId });
  const toB = sent.flatMap((e) => e.type === "send" ? e.messages : []).find((m) => m.to === "b")!;
  // Request 2's write is in flight when b's acknowledgement of request 1 arrives.
  const p2 = persistOf(a.handle(putRequest(2, "two")));
  const bPersist = persistOf(b.handle({ type: "message", message: toB }));
  const ack = b.handle({ type: "persisted", persistId: bPersist.persistId })
    .flatMap((e) => e.type === "send" ? e.messages : []);
  assert.deepEqual(a.handle({ type: "message", message: ack[0] }), []);
  a.handle(putRequest(3, "three"));
  // Once request 2's write is done, the next ready holds request 1 (committed) and request 3
  // (new): request 1 is split off behind a persist of the commit index alone.
  const next = a.handle({ type: "persisted", persistId: p2.persistId });
  const persists = next.filter((e) => e.type === "persist");
  assert.equal(persists.length, 2);
  const [commitOnly, entries] = persists;
  assert.ok(commitOnly.type === "persist" && entries.type === "persist");
  assert.deepEqual([commitOnly.entries.length, commitOnly.mustSync], [0, false]);
  assert.ok(entries.entries.length > 0 && entries.mustSync);
  const answered = a.handle({ type: "persisted", persistId: commitOnly.persistId });
  const reply = answered.find((e) => e.type === "reply");
  assert.ok(reply?.type === "reply" && reply.requestId === 1 && reply.reply.ok);
  assert.ok(a.awaitingPersist, "request 3's write is still in flight");
  assert.equal(a.storage.initialState().hardState.commit, a.appliedIndex);
  // The rest of the ready follows its own write.
  a.handle({ type: "persisted", persistId: entries.persistId });
  assert.ok(!a.awaitingPersist);
});

Deno.test("a restarted node applies its committed backlog one bounded ready per event, not all at once", () => {
  const pump = (node: ClusterNode<KvQuery, CommandResult>, effects: Effect[]): Effect[] => {
    const all: Effect[] = [];
    for (let queue = effects; queue.length > 0;) {
      all.push(...queue);
      const next: Effect[] = [];
      for (const e of queue) {
        if (e.type !== "persist") continue;
        next.push(...node.handle({ type: "persisted", persistId: e.persistId }));
      }
      queue = next;
    }
    return all;
  };
  const first = makeNode("a", ["a"], 7);
  for (let tick = 0; tick < 30 && first.softState.role !== "leader"; tick++) {
    pump(first, first.handle({ type: "tick" }));
  }
  assert.equal(first.softState.role, "leader");
  const value = "v".repeat(1000);
  const puts = 3000;
  for (let i = 0; i < puts; i++) {
    const command = encodeCommand({ op: "put", key: `k${i}`, value });
    pump(
      first,
      first.handle({ type: "request", requestId: i, request: { kind: "command", command } }),
    );
  }
  const committed = first.appliedIndex;
  assert.ok(committed > puts);

  // The same durable log under an empty state machine, as after a restart.
  const storage = first.storage;
  const restarted = new ClusterNode<KvQuery, CommandResult>({
    id: "a",
    raft: new RawNode({
      id: "a",
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      rng: new SeededRng(8),
    }),
    storage,
    stateMachine: new KvStateMachine(),
    appliedIndex: 0,
    confState: emptyConfState(),
    rng: new SeededRng(9),
    snapshotEveryEntries: 0,
    maxPendingRequests: 100,
  });
  const appliedPerTick: number[] = [];
  for (let tick = 0; tick < 20 && restarted.appliedIndex < committed; tick++) {
    const effects = pump(restarted, restarted.handle({ type: "tick" }));
    appliedPerTick.push(
      effects.reduce((n, e) => n + (e.type === "applied" ? e.entries.length : 0), 0),
    );
  }
  assert.equal(restarted.appliedIndex, committed);
  // ~3 MB of commands, at most 1 MB (maxCommittedSizePerReadyBytes) per event.
  assert.ok(appliedPerTick.length >= 3, `applied per tick: ${appliedPerTick}`);
  assert.ok(Math.max(...appliedPerTick) <= 1_050, `applied per tick: ${appliedPerTick}`);
});

Deno.test("a leader whose snapshot bytes were released serves a follower from its source", () => {
  const ids = ["a", "b", "c"];
  const every = 20;
  const nodes = new Map(ids.map((id, i) => [id, makeNode(id, ids, i + 1, false, false, every)]));
  let cut = false;
  const deliver = (first: Array<[string, Effect[]]>) =>
    settle(nodes, first, (m) => m.to !== "c" || !cut);
  const tickAll = () => deliver(ids.map((id) => [id, nodes.get(id)!.handle({ type: "tick" })]));
  tickAll();
  deliver([["a", nodes.get("a")!.handle({ type: "campaign" })]]);
  const a = nodes.get("a")!;
  cut = true;
  let requestId = 0;
  while (a.appliedIndex < 3 * every) {
    deliver([["a", a.handle(putRequest(++requestId, "v", `k${requestId}`))]]);
    tickAll();
  }
  assert.ok(a.storage.firstIndex() > nodes.get("c")!.appliedIndex + 1, "c needs a snapshot");
  // What a host does once the snapshot file is durable: the copy stands for the file.
  const held = a.storage.snapshot();
  const durable = held.data.slice();
  const asked: number[] = [];
  let unavailable = 2;
  a.storage.setSnapshotSource((metadata) => {
    asked.push(metadata.index);
    // The first reads find nothing (a file still being written): the leader retries.
    return unavailable-- > 0 ? undefined : durable;
  });
  assert.ok(a.storage.releaseSnapshotData(held.metadata.index));
  cut = false;
  for (let i = 0; i < 200 && nodes.get("c")!.appliedIndex < a.appliedIndex; i++) tickAll();
  assert.equal(nodes.get("c")!.appliedIndex, a.appliedIndex);
  assert.ok(asked.length >= 3, `asked ${asked.length} times`);
  assert.ok(asked.every((index) => index === held.metadata.index));
  assert.equal(a.storage.snapshotDataHeld, false, "the leader did not keep the bytes it read");
  const read = (id: string) =>
    nodes.get(id)!.handle({
      type: "request",
      requestId: 999,
      request: {
        kind: "read",
        consistency: "serializable",
        query: { op: "get", key: `k${requestId}` },
      },
    });
  assert.deepEqual(read("c"), read("a"));
});
