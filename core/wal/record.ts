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

function payloadOf(record: Exclude<WalRecord, { kind: "entry" }>): Uint8Array {
  switch (record.kind) {
    case "metadata": {
      const node = encoder.encode(record.nodeId);
      const cluster = encoder.encode(record.clusterId);
      const out = new Uint8Array(8 + node.length + cluster.length);
      const view = new DataView(out.buffer);
      view.setUint32(0, node.length, true);
      out.set(node, 4);
      view.setUint32(4 + node.length, cluster.length, true);
      out.set(cluster, 8 + node.length);
      return out;
    }
    case "hardState": {
      const { term, vote, commit } = record.hardState;
      assertSafe("hard state term", term);
      assertSafe("hard state commit", commit);
      const voteBytes = vote === null ? new Uint8Array(0) : encodedNodeId(vote);
      const out = new Uint8Array(17 + voteBytes.length);
      const view = new DataView(out.buffer);
      view.setFloat64(0, term, true);
      view.setFloat64(8, commit, true);
      out[16] = vote === null ? 0 : 1;
      out.set(voteBytes, 17);
      return out;
    }
    case "snapshot": {
      assertSafe("snapshot index", record.index);
      assertSafe("snapshot term", record.term);
      const out = new Uint8Array(16);
      const view = new DataView(out.buffer);
      view.setFloat64(0, record.index, true);
      view.setFloat64(8, record.term, true);
      return out;
    }
  }
}

/** Payload size of an entry record: term, index, type, then the data. */
const ENTRY_FIXED_BYTES = 17;

/**
 * Encodes records back to back into one buffer, ready to append. Entries
 * (most records) are written in place; the rarer kinds go through a
 * separate payload.
 *
 * @example
 * ```ts
 * import { encodeRecords } from "@safla/core/wal";
 * const bytes = encodeRecords([{ kind: "hardState", hardState: { term: 1, vote: "a", commit: 0 } }]);
 * console.assert(bytes.length > 9);
 * ```
 */
export function encodeRecords(records: readonly WalRecord[]): Uint8Array {
  const payloads: Array<Uint8Array | undefined> = [];
  let total = 0;
  for (const record of records) {
    const payload = record.kind === "entry" ? undefined : payloadOf(record);
    payloads.push(payload);
    const length = payload === undefined
      ? ENTRY_FIXED_BYTES + (record as { entry: Entry }).entry.data.length
      : payload.length;
    if (length > MAX_RECORD_PAYLOAD_BYTES) {
      throw new RangeError(`WAL record payload of ${length} bytes exceeds the limit`);
    }
    total += RECORD_HEADER_BYTES + length;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    const payload = payloads[i];
    const body = offset + RECORD_HEADER_BYTES;
    let length: number;
    if (payload === undefined) {
      const { term, index, type, data } = (record as { entry: Entry }).entry;
      assertSafe("entry term", term);
      assertSafe("entry index", index);
      view.setFloat64(body, term, true);
      view.setFloat64(body + 8, index, true);
      out[body + 16] = type === "normal" ? 0 : 1;
      out.set(data, body + ENTRY_FIXED_BYTES);
      length = ENTRY_FIXED_BYTES + data.length;
    } else {
      out.set(payload, body);
      length = payload.length;
    }
    out[offset + 8] = KIND_CODES[record.kind];
    view.setUint32(offset, length, true);
    const lengthCrc = crc32cRange(out, offset, offset + 4);
    view.setUint32(offset + 4, crc32cRange(out, offset + 8, body + length, lengthCrc), true);
    offset = body + length;
  }
  return out;
}

/** The outcome of reading one record at an offset. */
export type RecordRead =
  | { ok: true; record: WalRecord; nextOffset: number }
  | { ok: false; reason: "truncated" | "checksum" | "malformed"; detail: string };

/** Decodes the record that starts at `offset` in `bytes`, without throwing. */
export function readRecord(bytes: Uint8Array, offset: number): RecordRead {
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
  try {
    const record = decodePayload(
      bytes[offset + 8],
      bytes.subarray(offset + RECORD_HEADER_BYTES, end),
    );
    return { ok: true, record, nextOffset: end };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: "malformed", detail: `record at byte ${offset}: ${detail}` };
  }
}

/** The little-endian u32 at `at` (no view per record). */
function u32(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function decodePayload(kind: number, payload: Uint8Array): WalRecord {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const need = (n: number) => {
    if (payload.length < n) {
      throw new RecordDecodeError(`payload of ${payload.length} bytes is too short`);
    }
  };
  switch (kind) {
    case KIND_CODES.metadata: {
      need(8);
      const nodeLength = view.getUint32(0, true);
      need(8 + nodeLength);
      const clusterLength = view.getUint32(4 + nodeLength, true);
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
          term: view.getFloat64(0, true),
          index: view.getFloat64(8, true),
          type: type === 0 ? "normal" : "confChange",
          data: payload.slice(17),
        },
      };
    }
    case KIND_CODES.hardState: {
      need(17);
      return {
        kind: "hardState",
        hardState: {
          term: view.getFloat64(0, true),
          commit: view.getFloat64(8, true),
          vote: payload[16] === 0 ? null : utf8(payload.subarray(17)),
        },
      };
    }
    case KIND_CODES.snapshot:
      need(16);
      return { kind: "snapshot", index: view.getFloat64(0, true), term: view.getFloat64(8, true) };
    default:
      throw new RecordDecodeError(`unknown record kind ${kind}`);
  }
}
