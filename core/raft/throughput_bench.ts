// Throughput of the Raft core: committed entries per second through a 3-node
// in-memory cluster (instant delivery, MemoryStorage), proposals batched per
// Ready cycle; once over bare RawNodes and once through core/node's
// ClusterNode with the KV state machine (put commands).
//
// Run: deno bench -A core/raft/throughput_bench.ts
// The figure in entries/s is `entriesPerRun / (time per iteration)`; the
// drivers are exported so a profiling script can call them directly.
import { SeededRng } from "../rng.ts";
import { decodeConfChange } from "./confchange/conf_change.ts";
import { RawNode } from "./rawnode.ts";
import { emptyConfState, MemoryStorage } from "./storage.ts";
import type { Message, NodeId } from "./types.ts";
import { ClusterNode } from "../node/node.ts";
import type { NodeEffect, StateMachine } from "../node/types.ts";
import { type KvQuery, KvStateMachine } from "../node/kv_state_machine.ts";
import type { CommandResult } from "../state/kv.ts";
import { encodeCommand } from "../state/commands.ts";

const IDS: readonly NodeId[] = ["a", "b", "c"];
// Bounds the delivery loop of one settle: far above what a batch needs.
const MAX_STEPS_PER_SETTLE = 10_000_000;

/** Payload of proposal `i`: 64 to 256 bytes, deterministic. */
function payloadSizeBytes(i: number): number {
  return 64 + (i * 37) % 193;
}

/** Payloads for `count` proposals, built before timing starts. */
export function rawPayloads(count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(new Uint8Array(payloadSizeBytes(i)).fill(i & 0xff));
  return out;
}

/** Encoded put commands (1000 distinct keys, values of 64 to 256 bytes), built before timing. */
export function putCommands(count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    out.push(encodeCommand({
      op: "put",
      key: `services/s${i % 1000}`,
      value: "v".repeat(payloadSizeBytes(i)),
    }));
  }
  return out;
}

interface RawMember {
  rn: RawNode;
  storage: MemoryStorage;
  applied: number;
}

/**
 * Proposes `payloads` to the leader of a fresh 3-node RawNode cluster in
 * batches of `batchSize` (one settle of the network per batch) and returns
 * the number of entries applied on every node. Throws if any proposal is
 * not applied on all three.
 */
export function runRawCluster(payloads: readonly Uint8Array[], batchSize: number): number {
  const members = new Map<NodeId, RawMember>();
  IDS.forEach((id, i) => {
    const storage = new MemoryStorage();
    const rn = new RawNode({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      rng: new SeededRng(i + 1),
      maxSizePerMsgBytes: 1024 * 1024,
      maxInflightMsgs: 256,
    });
    rn.bootstrap(IDS);
    members.set(id, { rn, storage, applied: 0 });
  });
  const queue: Message[] = [];
  let head = 0;
  const drain = (m: RawMember): void => {
    while (m.rn.hasReady()) {
      const rd = m.rn.ready();
      if (rd.snapshot) m.storage.applySnapshot(rd.snapshot);
      m.storage.append(rd.entries);
      if (rd.hardState) m.storage.setHardState(rd.hardState);
      for (const msg of rd.messages) queue.push(msg);
      for (const e of rd.committedEntries) {
        if (e.type === "confChange") {
          m.storage.setConfState(m.rn.applyConfChange(decodeConfChange(e.data)));
        } else if (e.data.length > 0) {
          m.applied++;
        }
      }
      m.rn.advance();
    }
  };
  const settle = (): void => {
    for (const m of members.values()) drain(m);
    for (let step = 0; step < MAX_STEPS_PER_SETTLE && head < queue.length; step++) {
      const msg = queue[head++];
      const to = members.get(msg.to);
      if (to === undefined) throw new Error(`message to unknown node ${msg.to}`);
      to.rn.step(msg);
      drain(to);
    }
    if (head < queue.length) throw new Error("settle did not converge");
    queue.length = 0;
    head = 0;
  };
  const leader = members.get("a")!;
  // The bootstrap conf changes must be applied before anyone may campaign.
  settle();
  leader.rn.campaign();
  settle();
  if (leader.rn.status().softState.role !== "leader") throw new Error("no leader elected");
  for (let i = 0; i < payloads.length;) {
    const end = Math.min(payloads.length, i + batchSize);
    for (; i < end; i++) leader.rn.propose(payloads[i]);
    settle();
  }
  let applied = Number.POSITIVE_INFINITY;
  for (const m of members.values()) applied = Math.min(applied, m.applied);
  if (applied !== payloads.length) {
    throw new Error(`only ${applied} of ${payloads.length} entries applied on every node`);
  }
  return applied;
}

/** A state machine that only counts, to measure Raft and the node without the KV store. */
class CountingStateMachine implements StateMachine<KvQuery, CommandResult> {
  #count = 0;
  apply(): CommandResult {
    return { op: "noop", ok: true, revision: ++this.#count };
  }
  read(): CommandResult {
    return { op: "noop", ok: true, revision: this.#count };
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(): void {
    this.#count = 0;
  }
}

/**
 * The same through ClusterNode + KvStateMachine: `commands` (encoded puts)
 * are client requests to the leader, persists complete at once. Returns the
 * number of commands applied on every node. With `counting`, the state
 * machine only counts (Raft + node without the KV store).
 */
export function runKvCluster(
  commands: readonly Uint8Array[],
  batchSize: number,
  counting = false,
): number {
  type Node = ClusterNode<KvQuery, CommandResult>;
  const nodes = new Map<NodeId, Node>();
  const applied = new Map<NodeId, number>();
  IDS.forEach((id, i) => {
    const storage = new MemoryStorage();
    const raft = new RawNode({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      rng: new SeededRng(i + 1),
      maxSizePerMsgBytes: 1024 * 1024,
      maxInflightMsgs: 256,
    });
    raft.bootstrap(IDS);
    nodes.set(
      id,
      new ClusterNode<KvQuery, CommandResult>({
        id,
        raft,
        storage,
        stateMachine: counting ? new CountingStateMachine() : new KvStateMachine(),
        appliedIndex: 0,
        confState: emptyConfState(),
        rng: new SeededRng(i + 10),
        snapshotEveryEntries: 10_000,
        maxPendingRequests: batchSize * 4,
      }),
    );
    applied.set(id, 0);
  });
  const events: Array<{ id: NodeId; message?: Message; persistId?: number }> = [];
  let head = 0;
  let replies = 0;
  const run = (id: NodeId, effects: NodeEffect<CommandResult>[]): void => {
    for (const e of effects) {
      if (e.type === "persist") events.push({ id, persistId: e.persistId });
      else if (e.type === "send") {
        for (const m of e.messages) events.push({ id: m.to, message: m });
      } else if (e.type === "applied") {
        let n = 0;
        for (const entry of e.entries) if (entry.type === "normal" && entry.data.length > 0) n++;
        applied.set(id, applied.get(id)! + n);
      } else if (e.type === "reply") {
        if (!e.reply.ok) throw new Error(`request ${e.requestId} failed: ${e.reply.error.code}`);
        replies++;
      }
    }
  };
  const settle = (): void => {
    for (let step = 0; step < MAX_STEPS_PER_SETTLE && head < events.length; step++) {
      const ev = events[head++];
      const node = nodes.get(ev.id)!;
      if (ev.message !== undefined) {
        run(ev.id, node.handle({ type: "message", message: ev.message }));
      } else run(ev.id, node.handle({ type: "persisted", persistId: ev.persistId! }));
    }
    if (head < events.length) throw new Error("settle did not converge");
    events.length = 0;
    head = 0;
  };
  const leader = nodes.get("a")!;
  for (const id of IDS) run(id, nodes.get(id)!.handle({ type: "tick" }));
  settle();
  run("a", leader.handle({ type: "campaign" }));
  settle();
  if (leader.softState.role !== "leader") throw new Error("no leader elected");
  for (const id of IDS) applied.set(id, 0);
  let requestId = 0;
  for (let i = 0; i < commands.length;) {
    const end = Math.min(commands.length, i + batchSize);
    for (; i < end; i++) {
      run(
        "a",
        leader.handle({
          type: "request",
          requestId: ++requestId,
          request: { kind: "command", command: commands[i] },
        }),
      );
    }
    settle();
  }
  const done = Math.min(...applied.values());
  if (done !== commands.length || replies !== commands.length) {
    throw new Error(`only ${done} of ${commands.length} commands applied on every node`);
  }
  return done;
}

const ENTRIES_PER_RUN = 10_000;
// Built on first use, so that importing the drivers costs nothing.
let payloads: Uint8Array[] | undefined;
let commands: Uint8Array[] | undefined;

for (const batchSize of [100, 1000]) {
  Deno.bench(
    `RawNode x3: ${ENTRIES_PER_RUN} entries of 64-256 B, batches of ${batchSize}`,
    { group: "raw" },
    () => {
      runRawCluster(payloads ??= rawPayloads(ENTRIES_PER_RUN), batchSize);
    },
  );
}

for (const batchSize of [100, 1000]) {
  Deno.bench(
    `ClusterNode+KV x3: ${ENTRIES_PER_RUN} puts of 64-256 B, batches of ${batchSize}`,
    { group: "kv" },
    () => {
      runKvCluster(commands ??= putCommands(ENTRIES_PER_RUN), batchSize);
    },
  );
}

Deno.bench(
  `ClusterNode+counting x3: ${ENTRIES_PER_RUN} puts of 64-256 B, batches of 1000`,
  { group: "kv" },
  () => {
    runKvCluster(commands ??= putCommands(ENTRIES_PER_RUN), 1000, true);
  },
);
