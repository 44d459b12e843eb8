/**
 * Snapshots as streams of bounded chunks. A Raft `snap` message carries the
 * whole state machine, which can be far larger than any frame a transport
 * accepts (a 75 MB snapshot broke the 64 MiB peer frame limit, and with it
 * the link that carried heartbeats). The leader's {@link SnapshotSender}
 * cuts it into `snapChunk` messages of at most `chunkBytes`, with at most
 * `windowChunks` unacknowledged, interleaved with every other message on the
 * link; the follower's {@link SnapshotReceiver} takes them in order, answers
 * each with a `snapAck` naming the next byte it expects, verifies the CRC-32C
 * of the whole and only then hands the reassembled `snap` message to Raft.
 *
 * A lost chunk or ack is resent after `ackTimeoutTicks` from the last
 * acknowledged byte (go-back-N); a transfer that makes no progress for
 * `maxStalledTimeouts` timeouts, or fails its checksum `maxRestarts` times,
 * is reported failed, so Raft's `reportSnapshot(peer, ok)` always hears the
 * truth. A new transfer of the snapshot the follower is already receiving
 * (from the same leader) resumes from the follower's offset.
 *
 * Wire layout (fields of {@link Message}):
 * - `snapChunk`: `term` the leader's term; `snapshot` the metadata and this
 *   chunk's bytes; `index` the chunk's byte offset; `commit` the snapshot's
 *   total bytes; `rejectHint` the CRC-32C of all the bytes on the last chunk
 *   (0 on the others).
 * - `snapAck`: `term` echoes the chunk's; `index`/`logTerm` the snapshot's
 *   index and term; `commit` the next byte offset expected; `rejectHint` 1
 *   when the follower holds nothing past `commit` any more (checksum
 *   mismatch, lost or replaced partial copy): the sender goes back to it,
 *   where an ack below what was acknowledged is otherwise a stale, reordered
 *   one; `reject` set when the follower refuses the snapshot for good
 *   (larger than it accepts).
 *
 * @module
 */
import { ConfigError } from "../config_error.ts";
import { crc32cRange } from "../crc32.ts";
import { newMessage } from "../raft/raft.ts";
import type { Message, NodeId, SnapshotMetadata } from "../raft/types.ts";

/** `rejectHint` of a `snapAck` whose sender dropped what it held past `commit`. */
const START_OVER = 1;

/** Bounds and timeouts of snapshot streaming. */
export interface SnapshotTransferConfig {
  /** Largest chunk of snapshot bytes in one message. */
  chunkBytes: number;
  /** Most chunks sent and not yet acknowledged, per follower. */
  windowChunks: number;
  /** Ticks without an acknowledgement before the window is sent again. */
  ackTimeoutTicks: number;
  /** Consecutive ack timeouts without progress before the transfer is reported failed. */
  maxStalledTimeouts: number;
  /** Times the follower may ask to start over (checksum mismatch, lost state) before failure. */
  maxRestarts: number;
  /** Largest snapshot a follower accepts (it buffers one transfer at a time). */
  maxSnapshotBytes: number;
  /** Ticks without a chunk after which a follower drops a partial transfer. */
  abandonAfterTicks: number;
}

/**
 * Defaults: 1 MiB chunks, 4 in flight (a heartbeat waits behind at most
 * 4 MiB on the link, a few ms on a LAN), resent after 10 ticks.
 */
export const DEFAULT_SNAPSHOT_TRANSFER: Readonly<SnapshotTransferConfig> = Object.freeze({
  chunkBytes: 1024 * 1024,
  windowChunks: 4,
  ackTimeoutTicks: 10,
  maxStalledTimeouts: 5,
  maxRestarts: 3,
  maxSnapshotBytes: 2 * 1024 * 1024 * 1024 - 1,
  abandonAfterTicks: 1_000,
});

/** Throws a {@link ConfigError} naming the field if `config` cannot work. */
export function validateSnapshotTransfer(config: SnapshotTransferConfig): void {
  for (const [field, min] of Object.entries(MINIMUMS)) {
    const value = config[field as keyof SnapshotTransferConfig];
    if (!Number.isSafeInteger(value) || value < min) {
      throw new ConfigError(
        "snapshot transfer",
        field,
        `must be an integer >= ${min}, got ${value}`,
      );
    }
  }
}

const MINIMUMS: Record<keyof SnapshotTransferConfig, number> = {
  chunkBytes: 1,
  windowChunks: 1,
  ackTimeoutTicks: 1,
  maxStalledTimeouts: 0,
  maxRestarts: 0,
  maxSnapshotBytes: 0,
  abandonAfterTicks: 1,
};

/** The outcome of a transfer, for `reportSnapshot`. */
export interface SnapshotReport {
  /** The follower. */
  peer: NodeId;
  /** Whether the follower acknowledged every byte. */
  ok: boolean;
}

interface OutboundTransfer {
  to: NodeId;
  term: number;
  metadata: SnapshotMetadata;
  data: Uint8Array;
  /** Next byte the follower is known to expect. */
  ackedBytes: number;
  /** Next byte to send. */
  nextBytes: number;
  /** Whether the last chunk has been sent since the last rewind. */
  sentAll: boolean;
  /** CRC-32C of `data[0, crcThroughBytes)`. */
  crc: number;
  crcThroughBytes: number;
  idleTicks: number;
  timeouts: number;
  restarts: number;
  /** The hole last resent on a repeated ack (-1: none). */
  retransmittedAt: number;
}

/**
 * The leader's side: one transfer per follower.
 *
 * @example
 * ```ts
 * import { newMessage } from "../raft/raft.ts";
 * import { DEFAULT_SNAPSHOT_TRANSFER, SnapshotSender } from "./snapshot_transfer.ts";
 * const sender = new SnapshotSender("a", { ...DEFAULT_SNAPSHOT_TRANSFER, chunkBytes: 4 });
 * const out: ReturnType<typeof newMessage>[] = [];
 * const metadata = { index: 5, term: 1, confState: { voters: ["a", "b"], votersOutgoing: [],
 *   learners: [], learnersNext: [], autoLeave: false } };
 * sender.start(newMessage({ type: "snap", from: "a", to: "b", term: 1,
 *   snapshot: { metadata, data: new Uint8Array(10) } }), out);
 * console.assert(out.length === 3 && out.every((m) => m.type === "snapChunk"));
 * ```
 */
export class SnapshotSender {
  readonly #self: NodeId;
  readonly #config: SnapshotTransferConfig;
  readonly #transfers = new Map<NodeId, OutboundTransfer>();

  /** A sender for node `self`. */
  constructor(self: NodeId, config: SnapshotTransferConfig) {
    validateSnapshotTransfer(config);
    this.#self = self;
    this.#config = config;
  }

  /** Followers with a transfer in progress. */
  get activeTransfers(): number {
    return this.#transfers.size;
  }

  /**
   * Starts streaming the snapshot of Raft message `snap` (replacing any
   * transfer to the same follower) and pushes the first window of chunks.
   */
  start(snap: Message, out: Message[]): void {
    const snapshot = snap.snapshot;
    if (snap.type !== "snap" || snapshot === undefined) {
      throw new RangeError(`not a snapshot message: ${snap.type}`);
    }
    const transfer: OutboundTransfer = {
      to: snap.to,
      term: snap.term,
      metadata: snapshot.metadata,
      data: snapshot.data,
      ackedBytes: 0,
      nextBytes: 0,
      sentAll: false,
      crc: 0,
      crcThroughBytes: 0,
      idleTicks: 0,
      timeouts: 0,
      restarts: 0,
      retransmittedAt: -1,
    };
    this.#transfers.set(snap.to, transfer);
    this.#fillWindow(transfer, out);
  }

  /** Handles a follower's `snapAck`; pushes further chunks; reports a finished transfer. */
  onAck(ack: Message, out: Message[]): SnapshotReport | undefined {
    const t = this.#transfers.get(ack.from);
    if (
      t === undefined || ack.term !== t.term || ack.index !== t.metadata.index ||
      ack.logTerm !== t.metadata.term
    ) return undefined;
    const total = t.data.length;
    if (ack.reject || ack.commit > total) return this.#finish(t, false);
    if (ack.commit === total) return this.#finish(t, true);
    if (ack.commit > t.ackedBytes) {
      t.ackedBytes = ack.commit;
      if (t.nextBytes < t.ackedBytes) {
        // The follower held more of this snapshot than we sent (a resumed transfer).
        t.nextBytes = t.ackedBytes;
        t.sentAll = false;
      }
      t.idleTicks = 0;
      t.timeouts = 0;
    } else if (ack.commit < t.ackedBytes) {
      if (ack.rejectHint !== START_OVER) return undefined;
      if (++t.restarts > this.#config.maxRestarts) return this.#finish(t, false);
      t.ackedBytes = t.nextBytes = ack.commit;
      t.sentAll = false;
      t.idleTicks = 0;
    } else {
      // A repeated ack: the follower holds chunks past a hole at `ackedBytes`
      // (or duplicates). Resend the chunk that fills it, once per hole,
      // instead of waiting for the timeout.
      if (t.nextBytes > t.ackedBytes && t.retransmittedAt !== t.ackedBytes) {
        t.retransmittedAt = t.ackedBytes;
        out.push(this.#chunk(t, t.ackedBytes));
      }
      return undefined;
    }
    this.#fillWindow(t, out);
    return undefined;
  }

  /** Counts a tick: resends stalled windows, reports transfers that stayed stalled. */
  tick(out: Message[]): SnapshotReport[] {
    const reports: SnapshotReport[] = [];
    for (const t of this.#transfers.values()) {
      if (++t.idleTicks < this.#config.ackTimeoutTicks) continue;
      t.idleTicks = 0;
      if (++t.timeouts > this.#config.maxStalledTimeouts) {
        reports.push(this.#finish(t, false));
        continue;
      }
      t.nextBytes = t.ackedBytes;
      t.sentAll = false;
      this.#fillWindow(t, out);
    }
    return reports;
  }

  /** Forgets every transfer (this node no longer leads; nobody awaits a report). */
  clear(): void {
    this.#transfers.clear();
  }

  #finish(t: OutboundTransfer, ok: boolean): SnapshotReport {
    this.#transfers.delete(t.to);
    return { peer: t.to, ok };
  }

  #fillWindow(t: OutboundTransfer, out: Message[]): void {
    const { chunkBytes, windowChunks } = this.#config;
    while (!t.sentAll && t.nextBytes - t.ackedBytes < chunkBytes * windowChunks) {
      const chunk = this.#chunk(t, t.nextBytes);
      t.nextBytes += chunk.snapshot!.data.length;
      t.sentAll = t.nextBytes === t.data.length;
      out.push(chunk);
    }
  }

  /** The chunk at byte `start`; the checksum is computed once, as chunks first go out in order. */
  #chunk(t: OutboundTransfer, start: number): Message {
    const total = t.data.length;
    const end = Math.min(total, start + this.#config.chunkBytes);
    if (t.crcThroughBytes < end) {
      t.crc = crc32cRange(t.data, t.crcThroughBytes, end, t.crc);
      t.crcThroughBytes = end;
    }
    return newMessage({
      type: "snapChunk",
      from: this.#self,
      to: t.to,
      term: t.term,
      index: start,
      commit: total,
      rejectHint: end === total ? t.crc : 0,
      snapshot: { metadata: t.metadata, data: t.data.subarray(start, end) },
    });
  }
}

interface InboundTransfer {
  from: NodeId;
  term: number;
  metadata: SnapshotMetadata;
  buffer: Uint8Array;
  /** Bytes `[0, nextBytes)` arrived and are checksummed. */
  nextBytes: number;
  crc: number;
  /** Chunks that arrived past a hole, already in `buffer`: start offset → end offset. */
  ahead: Map<number, number>;
  /** The whole snapshot's CRC-32C, once the last chunk (which carries it) arrived. */
  expectedCrc: number | undefined;
  idleTicks: number;
}

/** Chunks a follower keeps past a hole (they are in the buffer already; this bounds the index). */
const MAX_AHEAD_CHUNKS = 256;

/** What a chunk produced: an ack to send and, once complete and verified, the snapshot. */
export interface ChunkOutcome {
  /** The `snapAck` to send back, if any. */
  ack?: Message;
  /** The reassembled `snap` message to step into Raft. */
  snap?: Message;
}

/** Identifies a snapshot stream: a sender and a snapshot of a given size. */
function sameStream(
  a: { from: NodeId; metadata: SnapshotMetadata; sizeBytes: number },
  from: NodeId,
  metadata: SnapshotMetadata,
  sizeBytes: number,
): boolean {
  return a.from === from && a.metadata.index === metadata.index &&
    a.metadata.term === metadata.term && a.sizeBytes === sizeBytes;
}

/**
 * The follower's side: one transfer at a time, buffered in memory (Raft and
 * the state machine take the snapshot as one byte array; it is written to
 * disk, atomically, by the `persist` that installs it).
 *
 * @example
 * ```ts
 * import { DEFAULT_SNAPSHOT_TRANSFER, SnapshotReceiver } from "./snapshot_transfer.ts";
 * const receiver = new SnapshotReceiver("b", DEFAULT_SNAPSHOT_TRANSFER);
 * console.assert(receiver.bufferedBytes === 0);
 * ```
 */
export class SnapshotReceiver {
  readonly #self: NodeId;
  readonly #config: SnapshotTransferConfig;
  #current: InboundTransfer | undefined;
  /** The last completed stream: a resent last chunk (its ack was lost) is acknowledged again. */
  #completed:
    | { from: NodeId; term: number; metadata: SnapshotMetadata; sizeBytes: number }
    | undefined;

  /** A receiver for node `self`. */
  constructor(self: NodeId, config: SnapshotTransferConfig) {
    validateSnapshotTransfer(config);
    this.#self = self;
    this.#config = config;
  }

  /** Bytes held for the transfer in progress (bounded by `maxSnapshotBytes`). */
  get bufferedBytes(): number {
    return this.#current?.buffer.length ?? 0;
  }

  /** Takes one `snapChunk`. */
  onChunk(m: Message): ChunkOutcome {
    const snapshot = m.snapshot;
    const offset = m.index;
    const total = m.commit;
    if (
      snapshot === undefined || offset < 0 || total < 0 ||
      offset + snapshot.data.length > total
    ) return {};
    const { metadata } = snapshot;
    const ack = (nextBytes: number, outcome: "ok" | "startOver" | "reject" = "ok"): Message =>
      newMessage({
        type: "snapAck",
        from: this.#self,
        to: m.from,
        term: m.term,
        index: metadata.index,
        logTerm: metadata.term,
        commit: nextBytes,
        reject: outcome === "reject",
        rejectHint: outcome === "startOver" ? START_OVER : 0,
      });
    if (total > this.#config.maxSnapshotBytes) return { ack: ack(0, "reject") };
    const done = this.#completed;
    if (done !== undefined && done.term === m.term && sameStream(done, m.from, metadata, total)) {
      return { ack: ack(total) };
    }
    let t = this.#current;
    if (t !== undefined && !sameStream(streamOf(t), m.from, metadata, total)) {
      // An older leader's stream never displaces a newer one's.
      if (m.term < t.term) return {};
      t = undefined;
    }
    if (t === undefined) {
      if (offset !== 0) return { ack: ack(0, "startOver") };
      t = {
        from: m.from,
        term: m.term,
        metadata,
        buffer: new Uint8Array(total),
        nextBytes: 0,
        crc: 0,
        ahead: new Map(),
        expectedCrc: undefined,
        idleTicks: 0,
      };
      this.#current = t;
    }
    t.term = Math.max(t.term, m.term);
    t.idleTicks = 0;
    const end = offset + snapshot.data.length;
    if (end === total) t.expectedCrc = m.rejectHint;
    if (offset > t.nextBytes) {
      // Past a hole: keep it (reordered, or the chunk before it was lost) and
      // say where the hole is, so the sender resends just that.
      if (t.ahead.size < MAX_AHEAD_CHUNKS || t.ahead.has(offset)) {
        t.buffer.set(snapshot.data, offset);
        t.ahead.set(offset, end);
      }
      return { ack: ack(t.nextBytes) };
    }
    // A duplicate: say where we stand (a resumed sender skips ahead).
    if (offset < t.nextBytes) return { ack: ack(t.nextBytes) };
    t.buffer.set(snapshot.data, offset);
    t.crc = crc32cRange(t.buffer, offset, end, t.crc);
    t.nextBytes = end;
    for (let next = t.ahead.get(t.nextBytes); next !== undefined; next = t.ahead.get(t.nextBytes)) {
      t.ahead.delete(t.nextBytes);
      t.crc = crc32cRange(t.buffer, t.nextBytes, next, t.crc);
      t.nextBytes = next;
    }
    if (t.ahead.size > 0) {
      for (const start of t.ahead.keys()) if (start < t.nextBytes) t.ahead.delete(start);
    }
    if (t.nextBytes < total) return { ack: ack(t.nextBytes) };
    this.#current = undefined;
    if (t.crc !== t.expectedCrc) return { ack: ack(0, "startOver") };
    this.#completed = { from: m.from, term: m.term, metadata, sizeBytes: total };
    const snap = newMessage({
      type: "snap",
      from: m.from,
      to: this.#self,
      term: m.term,
      snapshot: { metadata, data: t.buffer },
    });
    return { ack: ack(total), snap };
  }

  /** Counts a tick: a partial transfer nobody continues is dropped after `abandonAfterTicks`. */
  tick(): void {
    const t = this.#current;
    if (t !== undefined && ++t.idleTicks >= this.#config.abandonAfterTicks) {
      this.#current = undefined;
    }
  }
}

function streamOf(t: InboundTransfer) {
  return { from: t.from, metadata: t.metadata, sizeBytes: t.buffer.length };
}
