/**
 * The envelope around a client command in a log entry: who proposed it, so
 * that the node that holds the client's request can answer it on apply.
 *
 * Layout: `[u8 version][u32 originNonce][f64 proposalSeq][command...]`. The
 * nonce is drawn per node incarnation, so a restarted node never mistakes an
 * old proposal for one of its own pending requests.
 *
 * @module
 */

/** Bytes before the command. */
export const ENVELOPE_HEADER_BYTES = 13;
const VERSION = 1;
const SCRATCH_BYTES = new Uint8Array(8);
const SCRATCH_VIEW = new DataView(SCRATCH_BYTES.buffer);

/**
 * Envelopes are cut from shared slabs: a typed array of its own costs an
 * off-heap allocation (and its later release) per proposal, which showed as
 * a large share of proposing. An envelope is a view whose `byteOffset` is
 * not 0: readers must honour it, as they must for any subarray. A slab stays
 * alive while any envelope in it does, which the log's compaction bounds.
 */
const SLAB_BYTES = 64 * 1024;
/** Larger envelopes get their own array, so that one never pins a slab mostly on its own. */
const MAX_SLAB_ALLOCATION_BYTES = 4 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsedBytes = 0;

function allocate(sizeBytes: number): Uint8Array {
  if (sizeBytes > MAX_SLAB_ALLOCATION_BYTES) return new Uint8Array(sizeBytes);
  if (slabUsedBytes + sizeBytes > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsedBytes = 0;
  }
  const out = slab.subarray(slabUsedBytes, slabUsedBytes + sizeBytes);
  slabUsedBytes += sizeBytes;
  return out;
}

/** A decoded envelope. */
export interface Envelope {
  /** Nonce of the proposing node incarnation. */
  originNonce: number;
  /** Per-incarnation proposal number. */
  proposalSeq: number;
  /** The state-machine command. */
  command: Uint8Array;
}

/**
 * Wraps `command`.
 *
 * @example
 * ```ts
 * import { decodeEnvelope, encodeEnvelope } from "./envelope.ts";
 * const e = decodeEnvelope(encodeEnvelope(7, 1, new Uint8Array([9])));
 * console.assert(e.originNonce === 7 && e.proposalSeq === 1 && e.command[0] === 9);
 * ```
 */
export function encodeEnvelope(
  originNonce: number,
  proposalSeq: number,
  command: Uint8Array,
): Uint8Array {
  const out = allocate(ENVELOPE_HEADER_BYTES + command.length);
  out[0] = VERSION;
  const nonce = originNonce >>> 0;
  out[1] = nonce & 0xff;
  out[2] = (nonce >>> 8) & 0xff;
  out[3] = (nonce >>> 16) & 0xff;
  out[4] = nonce >>> 24;
  // One shared scratch view instead of a DataView per envelope.
  SCRATCH_VIEW.setFloat64(0, proposalSeq, true);
  for (let i = 0; i < 8; i++) out[5 + i] = SCRATCH_BYTES[i];
  out.set(command, ENVELOPE_HEADER_BYTES);
  return out;
}

/** Whether `data` starts like an envelope (conf changes without one carry other contexts). */
export function isEnvelope(data: Uint8Array | undefined): data is Uint8Array {
  return data !== undefined && data.length >= ENVELOPE_HEADER_BYTES && data[0] === VERSION;
}

/** Unwraps an entry's data; throws on a malformed envelope (a bug, never user input). */
export function decodeEnvelope(data: Uint8Array): Envelope {
  if (data.length < ENVELOPE_HEADER_BYTES || data[0] !== VERSION) {
    throw new RangeError(`malformed command envelope of ${data.length} bytes`);
  }
  for (let i = 0; i < 8; i++) SCRATCH_BYTES[i] = data[5 + i];
  return {
    originNonce: (data[1] | (data[2] << 8) | (data[3] << 16) | (data[4] << 24)) >>> 0,
    proposalSeq: SCRATCH_VIEW.getFloat64(0, true),
    command: data.subarray(ENVELOPE_HEADER_BYTES),
  };
}
