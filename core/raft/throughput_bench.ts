// Throughput of the Raft core: committed entries per second through a 3-node
// in-memory cluster of bare RawNodes (instant delivery, MemoryStorage),
// proposals batched per Ready cycle. The same through core/node's ClusterNode,
// with the KV state machine and with a counting one, is figure (b) of
// `deno run -A sim/bench.ts`.
//
// Run: deno bench -A core/raft/throughput_bench.ts
// The figure in entries/s is `entriesPerRun / (time per iteration)`; the
// drivers are exported so a profiling script can call them directly.
import { SeededRng } from "../rng.ts";
import { decodeConfChange } from "./confchange/conf_change.ts";
import { RawNode } from "./rawnode.ts";
import { MemoryStorage } from "./storage.ts";
import type { Message, NodeId } from "./types.ts";

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

const ENTRIES_PER_RUN = 10_000;
// Built on first use, so that importing the drivers costs nothing.
let payloads: Uint8Array[] | undefined;

for (const batchSize of [100, 1000]) {
  Deno.bench(
    `RawNode x3: ${ENTRIES_PER_RUN} entries of 64-256 B, batches of ${batchSize}`,
    { group: "raw" },
    () => {
      runRawCluster(payloads ??= rawPayloads(ENTRIES_PER_RUN), batchSize);
    },
  );
}
