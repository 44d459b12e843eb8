/**
 * Binary encoding of Raft messages for the peer transport. Numbers are
 * float64 (exact for Raft's safe-integer terms and indices), strings are
 * length-prefixed UTF-8, byte fields length-prefixed.
 *
 * @module
 */
import type { ConfState, Entry, Message, MessageType, Snapshot } from "@safla/core";

const MESSAGE_TYPES: readonly MessageType[] = [
  "hup",
  "beat",
  "prop",
  "app",
  "appResp",
  "vote",
  "voteResp",
  "preVote",
  "preVoteResp",
  "snap",
  "heartbeat",
  "heartbeatResp",
  "unreachable",
  "snapStatus",
  "checkQuorum",
  "transferLeader",
  "timeoutNow",
  "readIndex",
  "readIndexResp",
  "snapChunk",
  "snapAck",
];
const TYPE_CODE = new Map(MESSAGE_TYPES.map((t, i) => [t, i]));

/** Bytes that are not a valid encoded message batch. */
export class CodecError extends Error {
  /** Creates the error with what is wrong. */
  constructor(detail: string) {
    super(`malformed peer message: ${detail}`);
    this.name = "CodecError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

class Writer {
  #buf: Uint8Array;
  #view: DataView;
  #at = 0;

  constructor(initialBytes = 256) {
    this.#buf = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#buf.buffer);
  }

  #reserve(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#at));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.#reserve(1);
    this.#buf[this.#at++] = v;
  }
  u32(v: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#at, v, true);
    this.#at += 4;
  }
  num(v: number): void {
    this.#reserve(8);
    this.#view.setFloat64(this.#at, v, true);
    this.#at += 8;
  }
  bytes(v: Uint8Array): void {
    this.u32(v.length);
    this.#reserve(v.length);
    this.#buf.set(v, this.#at);
    this.#at += v.length;
  }
  str(v: string): void {
    this.bytes(encoder.encode(v));
  }
  strs(v: readonly string[]): void {
    this.u32(v.length);
    for (const s of v) this.str(s);
  }
  done(): Uint8Array {
    return this.#buf.subarray(0, this.#at);
  }
}

class Reader {
  #view: DataView;
  #at = 0;
  constructor(readonly buf: Uint8Array) {
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  #need(n: number): void {
    if (this.#at + n > this.buf.length) {
      throw new CodecError(`needs ${n} more bytes at ${this.#at}`);
    }
  }
  u8(): number {
    this.#need(1);
    return this.buf[this.#at++];
  }
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.#at, true);
    this.#at += 4;
    return v;
  }
  num(): number {
    this.#need(8);
    const v = this.#view.getFloat64(this.#at, true);
    this.#at += 8;
    if (!Number.isSafeInteger(v)) throw new CodecError(`number ${v} is not a safe integer`);
    return v;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    this.#need(n);
    const v = this.buf.slice(this.#at, this.#at + n);
    this.#at += n;
    return v;
  }
  str(): string {
    try {
      return decoder.decode(this.bytes());
    } catch (error) {
      if (error instanceof CodecError) throw error;
      throw new CodecError("invalid UTF-8 string");
    }
  }
  strs(): string[] {
    const n = this.u32();
    if (n > this.buf.length) throw new CodecError(`list length ${n} exceeds the frame`);
    return Array.from({ length: n }, () => this.str());
  }
  get remaining(): number {
    return this.buf.length - this.#at;
  }
}

function writeConfState(w: Writer, cs: ConfState): void {
  w.strs(cs.voters);
  w.strs(cs.votersOutgoing);
  w.strs(cs.learners);
  w.strs(cs.learnersNext);
  w.u8(cs.autoLeave ? 1 : 0);
}

function readConfState(r: Reader): ConfState {
  return {
    voters: r.strs(),
    votersOutgoing: r.strs(),
    learners: r.strs(),
    learnersNext: r.strs(),
    autoLeave: r.u8() === 1,
  };
}

function writeEntry(w: Writer, e: Entry): void {
  w.num(e.term);
  w.num(e.index);
  w.u8(e.type === "normal" ? 0 : 1);
  w.bytes(e.data);
}

function readEntry(r: Reader): Entry {
  const term = r.num();
  const index = r.num();
  const type = r.u8();
  if (type > 1) throw new CodecError(`unknown entry type ${type}`);
  return { term, index, type: type === 0 ? "normal" : "confChange", data: r.bytes() };
}

function writeMessage(w: Writer, m: Message): void {
  const code = TYPE_CODE.get(m.type);
  if (code === undefined) throw new CodecError(`unknown message type ${m.type}`);
  w.u8(code);
  w.str(m.from);
  w.str(m.to);
  w.num(m.term);
  w.num(m.logTerm);
  w.num(m.index);
  w.num(m.commit);
  w.u8((m.reject ? 1 : 0) | (m.snapshot ? 2 : 0) | (m.context ? 4 : 0));
  w.num(m.rejectHint);
  w.u32(m.entries.length);
  for (const e of m.entries) writeEntry(w, e);
  if (m.snapshot) writeSnapshot(w, m.snapshot);
  if (m.context) w.bytes(m.context);
}

function writeSnapshot(w: Writer, s: Snapshot): void {
  w.num(s.metadata.index);
  w.num(s.metadata.term);
  writeConfState(w, s.metadata.confState);
  w.bytes(s.data);
}

function readMessage(r: Reader): Message {
  const code = r.u8();
  const type = MESSAGE_TYPES[code];
  if (type === undefined) throw new CodecError(`unknown message type code ${code}`);
  const from = r.str();
  const to = r.str();
  const term = r.num();
  const logTerm = r.num();
  const index = r.num();
  const commit = r.num();
  const flags = r.u8();
  const rejectHint = r.num();
  const count = r.u32();
  if (count > r.remaining) throw new CodecError(`entry count ${count} exceeds the frame`);
  const entries = Array.from({ length: count }, () => readEntry(r));
  const message: Message = {
    type,
    from,
    to,
    term,
    logTerm,
    index,
    commit,
    reject: (flags & 1) !== 0,
    rejectHint,
    entries,
  };
  if (flags & 2) {
    const index = r.num();
    const term = r.num();
    const confState = readConfState(r);
    message.snapshot = { metadata: { index, term, confState }, data: r.bytes() };
  }
  if (flags & 4) message.context = r.bytes();
  return message;
}

/**
 * Encodes a batch of messages into one frame payload.
 *
 * @example
 * ```ts
 * const bytes = encodeMessages([]);
 * console.assert(decodeMessages(bytes).length === 0);
 * ```
 */
export function encodeMessages(messages: readonly Message[]): Uint8Array {
  const w = new Writer();
  w.u32(messages.length);
  for (const m of messages) writeMessage(w, m);
  return w.done();
}

/** Frame payloads of a batch, each with the number of messages it carries. */
export interface EncodedBatch {
  /** Payloads in the batch's order. */
  payloads: Array<{ payload: Uint8Array; count: number }>;
  /** Messages that alone exceed the bound (left out). */
  oversized: Message[];
}

/**
 * Encodes a batch as frame payloads of at most `maxPayloadBytes` each, in
 * order, so that no frame exceeds the receiver's limit (a frame over it
 * costs the whole connection). A message larger than the bound on its own
 * is left out and returned in `oversized`.
 *
 * @example
 * ```ts
 * const { payloads, oversized } = encodeMessageBatches([], 1024);
 * console.assert(payloads.length === 0 && oversized.length === 0);
 * ```
 */
export function encodeMessageBatches(
  messages: readonly Message[],
  maxPayloadBytes: number,
): EncodedBatch {
  if (messages.length === 0) return { payloads: [], oversized: [] };
  const whole = encodeMessages(messages);
  if (whole.length <= maxPayloadBytes) {
    return { payloads: [{ payload: whole, count: messages.length }], oversized: [] };
  }
  const payloads: EncodedBatch["payloads"] = [];
  const oversized: Message[] = [];
  let group: Uint8Array[] = [];
  let groupBytes = 4;
  const flush = () => {
    if (group.length === 0) return;
    const payload = new Uint8Array(groupBytes);
    new DataView(payload.buffer).setUint32(0, group.length, true);
    let at = 4;
    for (const bytes of group) {
      payload.set(bytes, at);
      at += bytes.length;
    }
    payloads.push({ payload, count: group.length });
    group = [];
    groupBytes = 4;
  };
  for (const m of messages) {
    const w = new Writer(estimatedBytes(m));
    writeMessage(w, m);
    const bytes = w.done();
    if (4 + bytes.length > maxPayloadBytes) {
      oversized.push(m);
      continue;
    }
    if (groupBytes + bytes.length > maxPayloadBytes) flush();
    group.push(bytes);
    groupBytes += bytes.length;
  }
  flush();
  return { payloads, oversized };
}

/**
 * How many messages from the front of `messages` to encode for the next
 * frame: as many as fit `maxPayloadBytes` by estimate, at least one. A link
 * encodes one such batch per turn: encoding its whole queue at once (a
 * follower's catch-up, hundreds of 1 MB appends) held the leader's event
 * loop for over a second, its heartbeats to everyone with it.
 *
 * @example
 * ```ts
 * console.assert(frameBatchLength([], 1024) === 0);
 * ```
 */
export function frameBatchLength(messages: readonly Message[], maxPayloadBytes: number): number {
  let bytes = 4;
  let count = 0;
  for (const m of messages) {
    bytes += estimatedBytes(m);
    if (count > 0 && bytes > maxPayloadBytes) break;
    count++;
  }
  return count;
}

function estimatedBytes(m: Message): number {
  let bytes = 128 + (m.snapshot?.data.length ?? 0) + (m.context?.length ?? 0);
  for (const e of m.entries) bytes += 32 + e.data.length;
  return bytes;
}

/** Decodes a frame payload written by {@link encodeMessages}; throws {@link CodecError}. */
export function decodeMessages(bytes: Uint8Array): Message[] {
  const r = new Reader(bytes);
  const count = r.u32();
  if (count > bytes.length) throw new CodecError(`message count ${count} exceeds the frame`);
  const messages = Array.from({ length: count }, () => readMessage(r));
  if (r.remaining !== 0) throw new CodecError(`${r.remaining} trailing bytes`);
  return messages;
}
