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
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES + command.length);
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
