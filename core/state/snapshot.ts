/**
 * The key-value store's snapshot format: the whole state machine (keys,
 * leases, fencing term, watch history, applied index) in a deterministic,
 * CRC-32C-checksummed binary layout.
 *
 * Layout: `"SKV" 0x02` magic and version, the body, then the CRC-32C of
 * everything before it (u32, little-endian). Restoring checks the checksum
 * first and then every invariant, so a corrupt or hand-made snapshot is
 * refused with a {@link SnapshotError} instead of producing a store that
 * diverges later.
 *
 * @module
 */
import { crc32c, crc32cRange } from "../crc32.ts";
import { ByteReader, ByteReadError, type ByteSource, ByteWriter } from "./bytes.ts";
import { type KeyValue, NO_LEASE, type WatchEvent } from "./types.ts";

/** A lease as stored in a snapshot (its keys are derived from the records). */
export interface LeaseRecord {
  /** Lease id. */
  id: number;
  /** Time to live. */
  ttlMs: number;
  /** Fencing token: index of the grant or last keep-alive. */
  renewIndex: number;
  /** Proposer's clock at that renewal. */
  renewedAtMs: number;
}

/** Everything a snapshot holds. */
export interface SnapshotState {
  /** Index of the last applied entry. */
  appliedIndex: number;
  /** Revision of the newest write. */
  revision: number;
  /** Highest term seen in an applied lease expiry. */
  leaseFenceTerm: number;
  /** Event-count bound of the watch history. */
  historyLimitEvents: number;
  /** Estimated-size bound of the watch history. */
  historyLimitBytes: number;
  /** Highest revision whose events were dropped. */
  compactRevision: number;
  /** Records, sorted by key. */
  kvs: KeyValue[];
  /** Leases, sorted by id. */
  leases: LeaseRecord[];
  /** Retained watch events, oldest first. */
  events: WatchEvent[];
}

/** Why a snapshot was refused. */
export type SnapshotErrorReason = "truncated" | "badMagic" | "checksum" | "malformed";

/** Snapshot bytes could not be restored. */
export class SnapshotError extends Error {
  /** What is wrong. */
  readonly reason: SnapshotErrorReason;

  /** Creates the error. */
  constructor(reason: SnapshotErrorReason, detail: string) {
    super(`cannot restore key-value snapshot (${reason}): ${detail}`);
    this.name = "SnapshotError";
    this.reason = reason;
  }
}

const MAGIC = [0x53, 0x4b, 0x56, 0x02] as const;
const CHECKSUM_BYTES = 4;

/** Fixed bytes of an encoded record: two string lengths and four numbers. */
const KV_FIXED_BYTES = 4 + 4 + 4 * 8;

/**
 * Writes `kv`. A record object is often written several times (the current
 * record, the event that wrote it, the next event's `prevKv`): `written`
 * remembers where each was first encoded, and a repeat copies those bytes.
 */
function writeKv(
  w: ByteWriter,
  kv: KeyValue,
  written: Map<KeyValue, number>,
  remember: boolean,
): void {
  const at = written.get(kv);
  if (at !== undefined) {
    w.repeat(at, encodedKvBytes(w, at));
    return;
  }
  if (remember) written.set(kv, w.length);
  w.string(kv.key);
  w.string(kv.value);
  w.f64(kv.createRevision);
  w.f64(kv.modRevision);
  w.f64(kv.version);
  w.f64(kv.leaseId);
}

/** Length of the record encoded at `at` (read back from its two string lengths). */
function encodedKvBytes(w: ByteWriter, at: number): number {
  const keyBytes = w.u32At(at);
  return KV_FIXED_BYTES + keyBytes + w.u32At(at + 4 + keyBytes);
}

/** The encoded size when every key and value is ASCII (a lower bound otherwise). */
function asciiSizeBytes(state: SnapshotState): number {
  const kvBytes = (kv: KeyValue) => KV_FIXED_BYTES + kv.key.length + kv.value.length;
  let size = MAGIC.length + 6 * 8 + 3 * 4 + state.leases.length * 4 * 8 + CHECKSUM_BYTES;
  for (const kv of state.kvs) size += kvBytes(kv);
  for (const event of state.events) {
    size += 1 + 8 + kvBytes(event.kv) + 1 + (event.prevKv === null ? 0 : kvBytes(event.prevKv));
  }
  return size;
}

/** Encodes a state; equal states give equal bytes. */
export function encodeSnapshot(state: SnapshotState): Uint8Array {
  const bytes = new SnapshotEncoder(state).step(Number.POSITIVE_INFINITY);
  if (bytes === undefined) throw new Error("encodeSnapshot: an unbounded step did not finish");
  return bytes;
}

/**
 * Encodes a state a bounded number of items (records, leases, events) per
 * {@link SnapshotEncoder.step}, so that a large store can be written out over
 * many event-loop turns; the bytes are {@link encodeSnapshot}'s. The state's
 * arrays and records must not change meanwhile: {@link KvStore} hands it
 * copies of its arrays, and records are immutable.
 */
export class SnapshotEncoder {
  readonly #state: SnapshotState;
  readonly #w: ByteWriter;
  readonly #written = new Map<KeyValue, number>();
  /**
   * The records the events refer to: only those can be written again, so
   * only their positions are remembered (one map entry per record of a large
   * store was tens of MB and a good part of the encoding time).
   */
  readonly #inEvents = new Set<KeyValue>();
  /** Next record, lease and event to write; -1 while that section's count is not written. */
  #kv = 0;
  #lease = -1;
  #event = -1;
  /** Checksum of the bytes written so far, and how many it covers. */
  #crc = 0;
  #crcBytes = 0;
  #result: Uint8Array | undefined;

  /** Starts encoding `state`: sizes the buffer and writes the fixed header. */
  constructor(state: SnapshotState) {
    this.#state = state;
    for (const event of state.events) {
      this.#inEvents.add(event.kv);
      if (event.prevKv !== null) this.#inEvents.add(event.prevKv);
    }
    // Sized to fit exactly in the common case: no growth, no final copy.
    const w = new ByteWriter(asciiSizeBytes(state));
    this.#w = w;
    for (const b of MAGIC) w.u8(b);
    w.f64(state.appliedIndex);
    w.f64(state.revision);
    w.f64(state.leaseFenceTerm);
    w.f64(state.historyLimitEvents);
    w.f64(state.historyLimitBytes);
    w.f64(state.compactRevision);
    w.u32(state.kvs.length);
  }

  /** Whether every item is encoded. */
  get done(): boolean {
    return this.#result !== undefined;
  }

  /**
   * Encodes up to `maxItems` more items; returns the whole encoding once the
   * last is written (and on every later call), undefined before.
   */
  step(maxItems: number): Uint8Array | undefined {
    if (this.#result !== undefined) return this.#result;
    if (!(maxItems >= 1)) throw new RangeError(`SnapshotEncoder.step: maxItems ${maxItems} < 1`);
    const { kvs, leases, events } = this.#state;
    const w = this.#w;
    let budget = maxItems;
    for (; budget > 0 && this.#kv < kvs.length; budget--) {
      const kv = kvs[this.#kv++];
      writeKv(w, kv, this.#written, this.#inEvents.has(kv));
    }
    if (this.#kv < kvs.length) return this.#pause();
    if (this.#lease < 0) {
      w.u32(leases.length);
      this.#lease = 0;
    }
    for (; budget > 0 && this.#lease < leases.length; budget--) {
      const lease = leases[this.#lease++];
      w.f64(lease.id);
      w.f64(lease.ttlMs);
      w.f64(lease.renewIndex);
      w.f64(lease.renewedAtMs);
    }
    if (this.#lease < leases.length) return this.#pause();
    if (this.#event < 0) {
      w.u32(events.length);
      this.#event = 0;
    }
    for (; budget > 0 && this.#event < events.length; budget--) {
      const event = events[this.#event++];
      w.u8(event.type === "put" ? 1 : 2);
      w.f64(event.revision);
      writeKv(w, event.kv, this.#written, true);
      w.u8(event.prevKv === null ? 0 : 1);
      if (event.prevKv !== null) writeKv(w, event.prevKv, this.#written, true);
    }
    if (this.#event < events.length) return this.#pause();
    this.#pause();
    w.u32(this.#crc);
    this.#result = w.take();
    return this.#result;
  }

  /** Carries the checksum over the bytes written since the last step. */
  #pause(): undefined {
    const view = this.#w.view();
    this.#crc = crc32cRange(view, this.#crcBytes, view.length, this.#crc);
    this.#crcBytes = view.length;
    return undefined;
  }
}

function malformed(detail: string): SnapshotError {
  return new SnapshotError("malformed", detail);
}

function safe(r: ByteReader, what: string, min = 0): number {
  const value = r.f64(what);
  if (!Number.isSafeInteger(value) || value < min) {
    // A read error, so that item-level callers can prefix it (decodeSnapshot makes it `malformed`).
    throw new ByteReadError(`${what} is ${value}, expected a safe integer ≥ ${min}`);
  }
  return value;
}

/** Fields are labelled without their item: callers prefix errors (see {@link relabel}). */
function readKv(r: ByteReader): KeyValue {
  return {
    key: r.string("key"),
    value: r.string("value"),
    createRevision: safe(r, "createRevision"),
    modRevision: safe(r, "modRevision"),
    version: safe(r, "version"),
    leaseId: safe(r, "leaseId"),
  };
}

/**
 * Names the item a read error happened in. Labels are built only on failure:
 * formatting one per field of every record and event was a visible part of a
 * restore.
 */
function relabel(error: unknown, item: string): unknown {
  return error instanceof ByteReadError ? new ByteReadError(`${item} ${error.message}`) : error;
}

function liveKvConsistent(kv: KeyValue, revision: number): boolean {
  return !(kv.key === "" || kv.version < 1 || kv.createRevision < 1 ||
    kv.createRevision > kv.modRevision || kv.modRevision > revision);
}

function checkLiveKv(kv: KeyValue, revision: number, what: string): void {
  if (!liveKvConsistent(kv, revision)) {
    throw malformed(`${what} "${kv.key}" has inconsistent revisions`);
  }
}

/**
 * Decodes and checks snapshot bytes.
 *
 * @throws {SnapshotError} if the bytes are truncated, not a snapshot,
 * fail the checksum or break an invariant.
 */
export function decodeSnapshot(bytes: Uint8Array): SnapshotState {
  if (bytes.length < MAGIC.length + CHECKSUM_BYTES) {
    throw new SnapshotError("truncated", `only ${bytes.length} bytes`);
  }
  if (MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new SnapshotError("badMagic", "the bytes do not start with a key-value snapshot header");
  }
  const bodyEnd = bytes.length - CHECKSUM_BYTES;
  const stored = new DataView(bytes.buffer, bytes.byteOffset + bodyEnd, CHECKSUM_BYTES)
    .getUint32(0, true);
  const actual = crc32c(bytes.subarray(0, bodyEnd));
  if (stored !== actual) {
    throw new SnapshotError(
      "checksum",
      `stored CRC-32C ${stored.toString(16)} but the content gives ${actual.toString(16)}`,
    );
  }
  try {
    const r = new ByteReader(bytes.subarray(MAGIC.length, bodyEnd));
    const state = readBody(r);
    if (r.remaining !== 0) throw malformed(`${r.remaining} unexpected bytes after the events`);
    return state;
  } catch (error) {
    if (error instanceof ByteReadError) throw malformed(error.message);
    throw error;
  }
}

/** Options of {@link decodeSnapshotStream}. */
export interface DecodeStreamOptions {
  /**
   * Whether to check the snapshot's own checksum (default true). A caller
   * that checks a checksum covering the same bytes (the host's snapshot
   * file) skips this second pass over them.
   */
  verifyChecksum?: boolean;
}

/**
 * {@link decodeSnapshot} of bytes pulled from `source` a buffer at a time,
 * so that the whole encoding is never in memory. The same checks, but the
 * checksum is compared once everything is read: damaged bytes may be
 * refused as `malformed` first.
 *
 * @throws {SnapshotError} as {@link decodeSnapshot} does.
 */
export function decodeSnapshotStream(
  source: ByteSource,
  options: DecodeStreamOptions = {},
): SnapshotState {
  const verifyChecksum = options.verifyChecksum ?? true;
  const r = new ByteReader(new Uint8Array(0), source, verifyChecksum);
  try {
    const magic = MAGIC.map(() => r.u8("header"));
    if (MAGIC.some((b, i) => magic[i] !== b)) {
      throw new SnapshotError(
        "badMagic",
        "the bytes do not start with a key-value snapshot header",
      );
    }
    const state = readBody(r);
    const actual = verifyChecksum ? r.checksumSoFar() : 0;
    const stored = r.u32("checksum");
    if (verifyChecksum && stored !== actual) {
      throw new SnapshotError(
        "checksum",
        `stored CRC-32C ${stored.toString(16)} but the content gives ${actual.toString(16)}`,
      );
    }
    if (!r.atEnd()) throw malformed("unexpected bytes after the checksum");
    return state;
  } catch (error) {
    if (error instanceof ByteReadError) {
      throw r.sourceEnded
        ? new SnapshotError("truncated", error.message)
        : malformed(error.message);
    }
    throw error;
  }
}

function readBody(r: ByteReader): SnapshotState {
  const appliedIndex = safe(r, "appliedIndex");
  const revision = safe(r, "revision");
  const leaseFenceTerm = safe(r, "leaseFenceTerm");
  const historyLimitEvents = safe(r, "historyLimitEvents", 1);
  const historyLimitBytes = safe(r, "historyLimitBytes", 1);
  const compactRevision = safe(r, "compactRevision");
  if (compactRevision > revision) {
    throw malformed(`compactRevision ${compactRevision} is after revision ${revision}`);
  }

  const kvCount = r.u32("key count");
  const kvs: KeyValue[] = [];
  for (let i = 0; i < kvCount; i++) {
    let kv: KeyValue;
    try {
      kv = readKv(r);
    } catch (error) {
      throw relabel(error, `record ${i}`);
    }
    checkLiveKv(kv, revision, "record");
    if (i > 0 && !(kvs[i - 1].key < kv.key)) throw malformed(`keys are not sorted at "${kv.key}"`);
    kvs.push(kv);
  }

  const leaseCount = r.u32("lease count");
  const leases: LeaseRecord[] = [];
  for (let i = 0; i < leaseCount; i++) {
    const lease: LeaseRecord = {
      id: safe(r, `lease ${i} id`, 1),
      ttlMs: safe(r, `lease ${i} ttlMs`, 1),
      renewIndex: safe(r, `lease ${i} renewIndex`, 1),
      renewedAtMs: safe(r, `lease ${i} renewedAtMs`),
    };
    if (i > 0 && !(leases[i - 1].id < lease.id)) {
      throw malformed(`leases are not sorted at ${lease.id}`);
    }
    if (lease.renewIndex > appliedIndex) {
      throw malformed(
        `lease ${lease.id} was renewed at ${lease.renewIndex}, after the applied index`,
      );
    }
    leases.push(lease);
  }
  const leaseIds = new Set(leases.map((l) => l.id));
  for (const kv of kvs) {
    if (kv.leaseId !== NO_LEASE && !leaseIds.has(kv.leaseId)) {
      throw malformed(`record "${kv.key}" is attached to missing lease ${kv.leaseId}`);
    }
  }

  const eventCount = r.u32("event count");
  const events: WatchEvent[] = [];
  let previous = compactRevision;
  for (let i = 0; i < eventCount; i++) {
    const event = readEvent(r, i, previous, compactRevision, revision);
    previous = event.revision;
    events.push(event);
  }
  // The newest revision is never compacted away, so the history always ends at the store's revision.
  const lastRevision = events.length === 0 ? 0 : events[events.length - 1].revision;
  if (lastRevision !== revision) {
    throw malformed(`the event history ends at revision ${lastRevision}, not ${revision}`);
  }
  return {
    appliedIndex,
    revision,
    leaseFenceTerm,
    historyLimitEvents,
    historyLimitBytes,
    compactRevision,
    kvs,
    leases,
    events,
  };
}

function readEvent(
  r: ByteReader,
  i: number,
  previous: number,
  compactRevision: number,
  revision: number,
): WatchEvent {
  // Which part of the event is being read, for the label of a read error.
  let part = "";
  try {
    const code = r.u8("type");
    if (code !== 1 && code !== 2) throw malformed(`event ${i} has unknown type ${code}`);
    const type = code === 1 ? "put" : "delete";
    const eventRevision = safe(r, "revision", 1);
    if (eventRevision <= compactRevision || eventRevision < previous || eventRevision > revision) {
      throw malformed(`event ${i} at revision ${eventRevision} is out of order`);
    }
    part = "record ";
    const kv = readKv(r);
    part = "";
    if (kv.modRevision !== eventRevision) {
      throw malformed(`event ${i} record has modRevision ${kv.modRevision}, not ${eventRevision}`);
    }
    if (type === "put" && !liveKvConsistent(kv, revision)) {
      throw malformed(`event ${i} record "${kv.key}" has inconsistent revisions`);
    }
    const hasPrev = r.u8("prevKv flag");
    if (hasPrev > 1) throw malformed(`event ${i} has prevKv flag ${hasPrev}`);
    part = "prevKv ";
    const prevKv = hasPrev === 1 ? readKv(r) : null;
    part = "";
    if (prevKv !== null && !liveKvConsistent(prevKv, eventRevision - 1)) {
      throw malformed(`event ${i} prevKv "${prevKv.key}" has inconsistent revisions`);
    }
    return { type, revision: eventRevision, kv, prevKv };
  } catch (error) {
    throw relabel(error, `event ${i} ${part}`.trimEnd());
  }
}
