/**
 * The write-ahead log's record format, shared by the real WAL
 * (`transports/wal/`) and the simulator's disk, so both recover through the
 * same code.
 *
 * A record is `[u32 payloadLength][u32 crc32c(payloadLength, kind, payload)][u8 kind][payload]`,
 * the length inside the checksum so a damaged length is caught, not taken for a torn tail;
 * little-endian. Numbers inside payloads are float64, exact for the safe
 * integers Raft uses for terms and indices.
 *
 * @module
 */
import { crc32cRange } from "../crc32.ts";
import { decodeUtf8 } from "../utf8.ts";
import type { Entry, HardState } from "../raft/types.ts";

/** Bytes before a record's payload: length, checksum and kind. */
export const RECORD_HEADER_BYTES = 9;

/** Largest payload a record may carry (bounds recovery reads). */
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024;

/** What a WAL record holds. */
export type WalRecord =
  | { kind: "metadata"; nodeId: string; clusterId: string }
  | { kind: "entry"; entry: Entry }
  | { kind: "hardState"; hardState: HardState }
  | { kind: "snapshot"; index: number; term: number };

const KIND_CODES = { metadata: 1, entry: 2, hardState: 3, snapshot: 4 } as const;

/** A record's bytes failed to decode. */
export class RecordDecodeError extends Error {
  /** Creates the error with a description of what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "RecordDecodeError";
  }
}

const encoder = new TextEncoder();

function utf8(bytes: Uint8Array): string {
  const text = decodeUtf8(bytes);
  if (text === undefined) throw new RecordDecodeError("text is not valid UTF-8");
  return text;
}

/** Node ids seen in votes, encoded: a hard state is written with nearly every persist. */
const nodeIdBytes = new Map<string, Uint8Array>();
const MAX_CACHED_NODE_IDS = 256;

/** The UTF-8 bytes of `nodeId` (shared: callers copy them, never change them). */
function encodedNodeId(nodeId: string): Uint8Array {
  let bytes = nodeIdBytes.get(nodeId);
  if (bytes === undefined) {
    if (nodeIdBytes.size >= MAX_CACHED_NODE_IDS) nodeIdBytes.clear();
    bytes = encoder.encode(nodeId);
    nodeIdBytes.set(nodeId, bytes);
  }
  return bytes;
}

function assertSafe(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`WAL record: ${name} must be a non-negative safe integer, got ${value}`);
  }
}

// Numbers are written through one scratch float and byte copies: a DataView per record
// (on a small typed array, its `.buffer` must first be moved off the heap) cost more than
// the record's checksum.
const SCRATCH_F64 = new Float64Array(1);
const SCRATCH_BYTES = new Uint8Array(SCRATCH_F64.buffer);
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function setF64(out: Uint8Array, at: number, value: number): void {
  SCRATCH_F64[0] = value;
  for (let i = 0; i < 8; i++) out[at + i] = SCRATCH_BYTES[HOST_LITTLE_ENDIAN ? i : 7 - i];
}

function getF64(bytes: Uint8Array, at: number): number {
  for (let i = 0; i < 8; i++) SCRATCH_BYTES[HOST_LITTLE_ENDIAN ? i : 7 - i] = bytes[at + i];
  return SCRATCH_F64[0];
}

function setU32(out: Uint8Array, at: number, value: number): void {
  out[at] = value & 0xff;
  out[at + 1] = (value >>> 8) & 0xff;
  out[at + 2] = (value >>> 16) & 0xff;
  out[at + 3] = value >>> 24;
}

/** The little-endian u32 at `at`. */
function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

/** Payload sizes of the fixed parts: entry (term, index, type), hard state (term, commit, flag). */
const ENTRY_FIXED_BYTES = 17;
const HARD_STATE_FIXED_BYTES = 17;
const SNAPSHOT_BYTES = 16;

/** The payload size of `record`; `text` receives the encoded strings it carries. */
function payloadBytes(record: WalRecord, text: Uint8Array[]): number {
  switch (record.kind) {
    case "entry":
      return ENTRY_FIXED_BYTES + record.entry.data.length;
    case "hardState": {
      const vote = record.hardState.vote;
      if (vote === null) return HARD_STATE_FIXED_BYTES;
      const bytes = encodedNodeId(vote);
      text.push(bytes);
      return HARD_STATE_FIXED_BYTES + bytes.length;
    }
    case "snapshot":
      return SNAPSHOT_BYTES;
    case "metadata": {
      const node = encoder.encode(record.nodeId);
      const cluster = encoder.encode(record.clusterId);
      text.push(node, cluster);
      return 8 + node.length + cluster.length;
    }
  }
}

/** Writes `record`'s payload at `at`, taking its strings from `text` in order. */
function writePayload(out: Uint8Array, at: number, record: WalRecord, text: Uint8Array[]): void {
  switch (record.kind) {
    case "entry": {
      const { term, index, type, data } = record.entry;
      assertSafe("entry term", term);
      assertSafe("entry index", index);
      setF64(out, at, term);
      setF64(out, at + 8, index);
      out[at + 16] = type === "normal" ? 0 : 1;
      out.set(data, at + ENTRY_FIXED_BYTES);
      return;
    }
    case "hardState": {
      const { term, vote, commit } = record.hardState;
      assertSafe("hard state term", term);
      assertSafe("hard state commit", commit);
      setF64(out, at, term);
      setF64(out, at + 8, commit);
      out[at + 16] = vote === null ? 0 : 1;
      if (vote !== null) out.set(text.shift()!, at + HARD_STATE_FIXED_BYTES);
      return;
    }
    case "snapshot":
      assertSafe("snapshot index", record.index);
      assertSafe("snapshot term", record.term);
      setF64(out, at, record.index);
      setF64(out, at + 8, record.term);
      return;
    case "metadata": {
      const node = text.shift()!;
      const cluster = text.shift()!;
      setU32(out, at, node.length);
      out.set(node, at + 4);
      setU32(out, at + 4 + node.length, cluster.length);
      out.set(cluster, at + 8 + node.length);
      return;
    }
  }
}

/**
 * Encodes records back to back into one buffer, ready to append, each
 * written in place.
 *
 * @example
 * ```ts
 * import { encodeRecords } from "@safla/core/wal";
 * const bytes = encodeRecords([{ kind: "hardState", hardState: { term: 1, vote: "a", commit: 0 } }]);
 * console.assert(bytes.length > 9);
 * ```
 */
export function encodeRecords(records: readonly WalRecord[]): Uint8Array {
  const text: Uint8Array[] = [];
  const lengths: number[] = [];
  let total = 0;
  for (const record of records) {
    const length = payloadBytes(record, text);
    if (length > MAX_RECORD_PAYLOAD_BYTES) {
      throw new RangeError(`WAL record payload of ${length} bytes exceeds the limit`);
    }
    lengths.push(length);
    total += RECORD_HEADER_BYTES + length;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < records.length; i++) {
    const body = offset + RECORD_HEADER_BYTES;
    const length = lengths[i];
    writePayload(out, body, records[i], text);
    setU32(out, offset, length);
    out[offset + 8] = KIND_CODES[records[i].kind];
    const lengthCrc = crc32cRange(out, offset, offset + 4);
    setU32(out, offset + 4, crc32cRange(out, offset + 8, body + length, lengthCrc));
    offset = body + length;
  }
  return out;
}

/** The outcome of reading one record at an offset. */
export type RecordRead =
  | { ok: true; record: WalRecord; nextOffset: number }
  | { ok: false; reason: "truncated" | "checksum" | "malformed"; detail: string };

/**
 * Decodes the record that starts at `offset` in `bytes`, without throwing.
 * With `skipEntriesThrough`, an entry record at or below that index is only
 * checked, not decoded: its `record` is undefined (a replay drops such
 * entries, and decoding them was a good part of a restart's replay).
 */
export function readRecord(bytes: Uint8Array, offset: number): RecordRead;
export function readRecord(
  bytes: Uint8Array,
  offset: number,
  skipEntriesThrough: number,
): RecordRead | { ok: true; record: undefined; entryIndex: number; nextOffset: number };
export function readRecord(
  bytes: Uint8Array,
  offset: number,
  skipEntriesThrough = -1,
): RecordRead | { ok: true; record: undefined; entryIndex: number; nextOffset: number } {
  if (offset + RECORD_HEADER_BYTES > bytes.length) {
    return { ok: false, reason: "truncated", detail: `incomplete record header at byte ${offset}` };
  }
  const length = u32(bytes, offset);
  if (length > MAX_RECORD_PAYLOAD_BYTES) {
    return { ok: false, reason: "malformed", detail: `record length ${length} at byte ${offset}` };
  }
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > bytes.length) {
    return {
      ok: false,
      reason: "truncated",
      detail: `record at byte ${offset} ends past the file`,
    };
  }
  const expected = u32(bytes, offset + 4);
  if (crc32cRange(bytes, offset + 8, end, crc32cRange(bytes, offset, offset + 4)) !== expected) {
    return {
      ok: false,
      reason: "checksum",
      detail: `checksum mismatch in record at byte ${offset}`,
    };
  }
  const kind = bytes[offset + 8];
  if (kind === KIND_CODES.entry && length >= 17 && bytes[offset + RECORD_HEADER_BYTES + 16] <= 1) {
    const entryIndex = getF64(bytes, offset + RECORD_HEADER_BYTES + 8);
    if (entryIndex <= skipEntriesThrough) {
      return { ok: true, record: undefined, entryIndex, nextOffset: end };
    }
  }
  try {
    const record = decodePayload(kind, bytes.subarray(offset + RECORD_HEADER_BYTES, end));
    return { ok: true, record, nextOffset: end };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: "malformed", detail: `record at byte ${offset}: ${detail}` };
  }
}

/**
 * The latest snapshot marker among the records that follow each other from
 * the start of `bytes`, by their lengths alone, and where it is; stops at the
 * first record that does not fit. Only a marker whose checksum holds counts.
 */
export function lastSnapshotMarker(
  bytes: Uint8Array,
): { index: number; offset: number } | undefined {
  let found: { index: number; offset: number } | undefined;
  for (let offset = 0; offset + RECORD_HEADER_BYTES <= bytes.length;) {
    const length = u32(bytes, offset);
    const end = offset + RECORD_HEADER_BYTES + length;
    if (length > MAX_RECORD_PAYLOAD_BYTES || end > bytes.length) break;
    if (bytes[offset + 8] === KIND_CODES.snapshot) {
      const read = readRecord(bytes, offset);
      if (read.ok && read.record.kind === "snapshot") found = { index: read.record.index, offset };
    }
    offset = end;
  }
  return found;
}

function decodePayload(kind: number, payload: Uint8Array): WalRecord {
  const need = (n: number) => {
    if (payload.length < n) {
      throw new RecordDecodeError(`payload of ${payload.length} bytes is too short`);
    }
  };
  switch (kind) {
    case KIND_CODES.metadata: {
      need(8);
      const nodeLength = u32(payload, 0);
      need(8 + nodeLength);
      const clusterLength = u32(payload, 4 + nodeLength);
      need(8 + nodeLength + clusterLength);
      return {
        kind: "metadata",
        nodeId: utf8(payload.subarray(4, 4 + nodeLength)),
        clusterId: utf8(payload.subarray(8 + nodeLength, 8 + nodeLength + clusterLength)),
      };
    }
    case KIND_CODES.entry: {
      need(17);
      const type = payload[16];
      if (type > 1) throw new RecordDecodeError(`unknown entry type ${type}`);
      return {
        kind: "entry",
        entry: {
          term: getF64(payload, 0),
          index: getF64(payload, 8),
          type: type === 0 ? "normal" : "confChange",
          // A view: replayWal copies the entries it keeps into one buffer.
          data: payload.subarray(17),
        },
      };
    }
    case KIND_CODES.hardState: {
      need(17);
      return {
        kind: "hardState",
        hardState: {
          term: getF64(payload, 0),
          commit: getF64(payload, 8),
          vote: payload[16] === 0 ? null : utf8(payload.subarray(17)),
        },
      };
    }
    case KIND_CODES.snapshot:
      need(16);
      return { kind: "snapshot", index: getF64(payload, 0), term: getF64(payload, 8) };
    default:
      throw new RecordDecodeError(`unknown record kind ${kind}`);
  }
}
