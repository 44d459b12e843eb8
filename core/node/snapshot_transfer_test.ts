import assert from "node:assert/strict";
import fc from "fast-check";
import { ConfigError } from "../config_error.ts";
import { newMessage } from "../raft/raft.ts";
import type { Message, SnapshotMetadata } from "../raft/types.ts";
import { SeededRng } from "../rng.ts";
import {
  DEFAULT_SNAPSHOT_TRANSFER,
  SnapshotReceiver,
  type SnapshotReport,
  SnapshotSender,
  type SnapshotTransferConfig,
} from "./snapshot_transfer.ts";

const CONFIG: SnapshotTransferConfig = {
  ...DEFAULT_SNAPSHOT_TRANSFER,
  chunkBytes: 4,
  windowChunks: 2,
  ackTimeoutTicks: 3,
  maxStalledTimeouts: 2,
  maxRestarts: 1,
  maxSnapshotBytes: 1_000,
  abandonAfterTicks: 20,
};

const METADATA: SnapshotMetadata = {
  index: 7,
  term: 2,
  confState: {
    voters: ["a", "b"],
    votersOutgoing: [],
    learners: [],
    learnersNext: [],
    autoLeave: false,
  },
};

function snapMessage(data: Uint8Array, term = 3, metadata = METADATA): Message {
  return newMessage({ type: "snap", from: "a", to: "b", term, snapshot: { metadata, data } });
}

function bytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 1) & 0xff);
}

/** A sender on "a", a receiver on "b", and the messages between them. */
class Pair {
  readonly sender: SnapshotSender;
  readonly receiver: SnapshotReceiver;
  toB: Message[] = [];
  toA: Message[] = [];
  readonly reports: SnapshotReport[] = [];
  readonly installed: Message[] = [];

  constructor(config = CONFIG) {
    this.sender = new SnapshotSender("a", config);
    this.receiver = new SnapshotReceiver("b", config);
  }

  start(m: Message): void {
    this.sender.start(m, this.toB);
  }

  /** Delivers what is in flight, both ways, until quiet; `lose` drops a message. */
  deliver(lose: (m: Message) => boolean = () => false, maxRounds = 1_000): void {
    for (let round = 0; round < maxRounds; round++) {
      if (this.toB.length === 0 && this.toA.length === 0) return;
      const toB = this.toB;
      this.toB = [];
      for (const m of toB) {
        if (lose(m)) continue;
        const { ack, snap } = this.receiver.onChunk(m);
        if (ack) this.toA.push(ack);
        if (snap) this.installed.push(snap);
      }
      const toA = this.toA;
      this.toA = [];
      for (const m of toA) {
        if (lose(m)) continue;
        const report = this.sender.onAck(m, this.toB);
        if (report) this.reports.push(report);
      }
    }
    throw new Error("transfer did not quiesce");
  }

  tick(n: number): void {
    for (let i = 0; i < n; i++) {
      this.reports.push(...this.sender.tick(this.toB));
      this.receiver.tick();
    }
  }
}

Deno.test("a snapshot goes as chunks of at most chunkBytes, windowChunks at a time, and is reassembled", () => {
  const pair = new Pair();
  const data = bytes(10);
  pair.start(snapMessage(data));
  // Two chunks of four bytes: the window; the rest waits for acks.
  assert.deepEqual(pair.toB.map((m) => [m.type, m.index, m.snapshot!.data.length]), [
    ["snapChunk", 0, 4],
    ["snapChunk", 4, 4],
  ]);
  const seen: number[] = [];
  pair.deliver((m) => {
    if (m.type === "snapChunk") seen.push(m.snapshot!.data.length);
    return false;
  });
  assert.deepEqual(seen, [4, 4, 2]);
  assert.equal(pair.installed.length, 1);
  const snap = pair.installed[0];
  assert.equal(snap.type, "snap");
  assert.equal(snap.term, 3);
  assert.equal(snap.from, "a");
  assert.deepEqual(snap.snapshot!.metadata, METADATA);
  assert.deepEqual(snap.snapshot!.data, data);
  assert.deepEqual(pair.reports, [{ peer: "b", ok: true }]);
  assert.equal(pair.sender.activeTransfers, 0);
  assert.equal(pair.receiver.bufferedBytes, 0);
});

Deno.test("an empty snapshot goes as one empty chunk", () => {
  const pair = new Pair();
  pair.start(snapMessage(new Uint8Array(0)));
  assert.equal(pair.toB.length, 1);
  pair.deliver();
  assert.equal(pair.installed[0].snapshot!.data.length, 0);
  assert.deepEqual(pair.reports, [{ peer: "b", ok: true }]);
});

Deno.test("a lost chunk is resent as soon as a later one arrives, and after ackTimeoutTicks when none does", () => {
  const pair = new Pair();
  const data = bytes(20);
  pair.start(snapMessage(data));
  const sent: number[] = [];
  let lostOnce = false;
  pair.deliver((m) => {
    if (m.type !== "snapChunk") return false;
    sent.push(m.index);
    if (m.index === 8 && !lostOnce) return (lostOnce = true);
    return false;
  });
  // The chunk at 12 arrived past the hole; the repeated ack had 8 resent at once.
  assert.deepEqual(sent, [0, 4, 8, 12, 8, 16]);
  assert.deepEqual(pair.installed[0].snapshot!.data, data);
  assert.deepEqual(pair.reports, [{ peer: "b", ok: true }]);

  const quiet = new Pair();
  quiet.start(snapMessage(data));
  // The whole second window is lost: nothing tells the sender but the clock.
  const lost = new Set<number>();
  quiet.deliver((m) => {
    if (m.type !== "snapChunk" || m.index < 8 || m.index >= 16 || lost.has(m.index)) return false;
    lost.add(m.index);
    return true;
  });
  assert.equal(quiet.installed.length, 0);
  quiet.tick(CONFIG.ackTimeoutTicks - 1);
  assert.equal(quiet.toB.length, 0, "nothing is resent before the timeout");
  quiet.tick(1);
  assert.deepEqual(quiet.toB.map((m) => m.index), [8, 12]);
  quiet.deliver();
  assert.deepEqual(quiet.installed[0].snapshot!.data, data);
  assert.deepEqual(quiet.reports, [{ peer: "b", ok: true }]);
});

Deno.test("the last chunk may arrive before the one ahead of it: its checksum still decides", () => {
  const pair = new Pair({ ...CONFIG, windowChunks: 3 });
  const data = bytes(12);
  pair.start(snapMessage(data));
  pair.toB = [pair.toB[0], pair.toB[2], pair.toB[1]];
  pair.deliver();
  assert.deepEqual(pair.installed[0].snapshot!.data, data);
  assert.deepEqual(pair.reports, [{ peer: "b", ok: true }]);
});

Deno.test("a lost final ack: the resent last chunk is acknowledged again, the snapshot installed once", () => {
  const pair = new Pair();
  const data = bytes(8);
  pair.start(snapMessage(data));
  pair.deliver((m) => m.type === "snapAck" && m.commit === 8);
  assert.equal(pair.installed.length, 1);
  assert.equal(pair.reports.length, 0);
  pair.tick(CONFIG.ackTimeoutTicks);
  pair.deliver();
  assert.equal(pair.installed.length, 1);
  assert.deepEqual(pair.reports, [{ peer: "b", ok: true }]);
});

Deno.test("a transfer with no progress is reported failed after maxStalledTimeouts timeouts", () => {
  const pair = new Pair();
  pair.start(snapMessage(bytes(20)));
  pair.toB = [];
  const stalledTicks = CONFIG.ackTimeoutTicks * (CONFIG.maxStalledTimeouts + 1);
  pair.tick(stalledTicks - 1);
  assert.equal(pair.reports.length, 0);
  pair.tick(1);
  assert.deepEqual(pair.reports, [{ peer: "b", ok: false }]);
  assert.equal(pair.sender.activeTransfers, 0);
});

Deno.test("a checksum mismatch makes the follower start over, and failing maxRestarts times fails the transfer", () => {
  const pair = new Pair();
  const data = bytes(10);
  pair.start(snapMessage(data));
  const corrupt = (m: Message) => {
    if (m.type === "snapChunk" && m.index === 4) {
      const copy = m.snapshot!.data.slice();
      copy[0] ^= 1;
      m.snapshot = { ...m.snapshot!, data: copy };
    }
    return false;
  };
  pair.deliver(corrupt);
  assert.equal(pair.installed.length, 0, "corrupt bytes are never installed");
  // The restart (one allowed) is sent; the second mismatch fails the transfer.
  assert.deepEqual(pair.reports, [{ peer: "b", ok: false }]);
  // With a clean second attempt the restart succeeds.
  const second = new Pair();
  second.start(snapMessage(data));
  let corrupted = false;
  second.deliver((
    m,
  ) => (corrupted ? false : (corrupted = m.type === "snapChunk" && m.index === 4, corrupt(m))));
  assert.deepEqual(second.installed[0].snapshot!.data, data);
  assert.deepEqual(second.reports, [{ peer: "b", ok: true }]);
});

Deno.test("a follower refuses a snapshot larger than maxSnapshotBytes and buffers nothing", () => {
  const pair = new Pair();
  pair.start(snapMessage(bytes(CONFIG.maxSnapshotBytes + 1)));
  pair.deliver();
  assert.deepEqual(pair.reports, [{ peer: "b", ok: false }]);
  assert.equal(pair.receiver.bufferedBytes, 0);
  assert.equal(pair.installed.length, 0);
});

Deno.test("a new transfer of the same snapshot resumes where the follower stands", () => {
  const pair = new Pair();
  const data = bytes(20);
  pair.start(snapMessage(data));
  pair.deliver((m) => m.type === "snapChunk" && m.index >= 12);
  assert.equal(pair.receiver.bufferedBytes, 20);
  // The leader gave up and Raft sends the snapshot again.
  const restarted = new SnapshotSender("a", CONFIG);
  const sent: number[] = [];
  pair.toB = [];
  restarted.start(snapMessage(data), pair.toB);
  for (let round = 0; round < 20 && pair.toB.length > 0; round++) {
    const toB = pair.toB;
    pair.toB = [];
    for (const m of toB) {
      sent.push(m.index);
      const { ack, snap } = pair.receiver.onChunk(m);
      if (snap) pair.installed.push(snap);
      if (ack) restarted.onAck(ack, pair.toB);
    }
  }
  assert.deepEqual(sent.slice(0, 4), [0, 4, 12, 16]);
  assert.ok(!sent.includes(8), `the new sender skipped what the follower had: ${sent}`);
  assert.deepEqual(pair.installed[0].snapshot!.data, data);
});

Deno.test("an older leader's chunks never displace a newer leader's transfer; a newer one replaces an older", () => {
  const receiver = new SnapshotReceiver("b", CONFIG);
  const chunk = (term: number, from: string, index: number) =>
    newMessage({
      type: "snapChunk",
      from,
      to: "b",
      term,
      index: 0,
      commit: 8,
      snapshot: { metadata: { ...METADATA, index }, data: bytes(4) },
    });
  assert.equal(receiver.onChunk(chunk(5, "c", 9)).ack?.commit, 4);
  assert.deepEqual(receiver.onChunk(chunk(4, "a", 7)), {}, "a stale leader is ignored");
  const newer = receiver.onChunk(chunk(6, "a", 10));
  assert.equal(newer.ack?.commit, 4);
  assert.equal(newer.ack?.index, 10);
  assert.deepEqual(receiver.onChunk({ ...chunk(5, "c", 9), index: 4 }), {});
  // A stream the follower does not hold, past its start, is told to start over.
  assert.equal(receiver.onChunk({ ...chunk(6, "c", 11), index: 4 }).ack?.commit, 0);
  assert.equal(receiver.onChunk(chunk(6, "a", 10)).ack?.commit, 4, "the newer stream is kept");
});

Deno.test("a partial transfer nobody continues is dropped after abandonAfterTicks", () => {
  const pair = new Pair();
  pair.start(snapMessage(bytes(20)));
  pair.deliver((m) => m.type === "snapChunk" && m.index >= 8);
  assert.equal(pair.receiver.bufferedBytes, 20);
  for (let i = 0; i < CONFIG.abandonAfterTicks; i++) pair.receiver.tick();
  assert.equal(pair.receiver.bufferedBytes, 0);
});

Deno.test("invalid bounds are refused with the field named", () => {
  const names = (field: string) => (e: unknown) => e instanceof ConfigError && e.field === field;
  assert.throws(() => new SnapshotSender("a", { ...CONFIG, chunkBytes: 0 }), names("chunkBytes"));
  assert.throws(
    () => new SnapshotReceiver("a", { ...CONFIG, windowChunks: 1.5 }),
    names("windowChunks"),
  );
});

Deno.test("property: under loss, duplication and reordering the follower installs exactly the leader's bytes or the leader hears of failure", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 200 }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      fc.double({ min: 0, max: 0.5, noNaN: true }),
      (sizeBytes, seed, lossRate) => {
        const rng = new SeededRng(seed);
        const pair = new Pair({ ...CONFIG, maxStalledTimeouts: 50, maxRestarts: 50 });
        const data = bytes(sizeBytes);
        pair.start(snapMessage(data));
        for (let tick = 0; tick < 2_000 && pair.reports.length === 0; tick++) {
          // Shuffle and duplicate what is in flight, then drop some.
          for (const queue of [pair.toB, pair.toA]) {
            if (queue.length > 0 && rng.next() < 0.2) queue.push(queue[rng.int(queue.length)]);
            for (let i = queue.length - 1; i > 0; i--) {
              const j = rng.int(i + 1);
              [queue[i], queue[j]] = [queue[j], queue[i]];
            }
          }
          pair.deliver(() => rng.next() < lossRate);
          pair.tick(1);
        }
        assert.equal(pair.reports.length, 1);
        for (const snap of pair.installed) assert.deepEqual(snap.snapshot!.data, data);
        if (pair.reports[0].ok) assert.ok(pair.installed.length >= 1);
      },
    ),
    { numRuns: 60 },
  );
});
