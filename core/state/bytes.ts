/**
 * Little-endian byte writing and bounds-checked reading for the state
 * machine's snapshot format. Numbers are float64, exact for the safe
 * integers used for revisions, indices and lease ids.
 *
 * @module
 */
import { crc32cRange } from "../crc32.ts";
import { decodeUtf8 } from "../utf8.ts";

const encoder = new TextEncoder();
/** UTF-16 units up to which ASCII is encoded in JavaScript (measured break-even: ~50). */
const SHORT_ENCODE_UNITS = 48;

/** A growable output buffer. */
export class ByteWriter {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;

  /** Creates a writer with `capacityBytes` preallocated. */
  constructor(capacityBytes = 1024) {
    this.#bytes = new Uint8Array(Math.max(16, capacityBytes));
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  /**
   * Makes room for `sizeBytes` and returns where they go. Callers must read
   * `#bytes`/`#view` only after calling it: it may replace both.
   */
  #reserve(sizeBytes: number): number {
    const at = this.#length;
    const needed = at + sizeBytes;
    if (needed > this.#bytes.length) {
      let capacity = this.#bytes.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.#bytes.subarray(0, at));
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#length = needed;
    return at;
  }

  /** Appends one byte. */
  u8(value: number): void {
    const at = this.#reserve(1);
    this.#bytes[at] = value;
  }

  /** Appends an unsigned 32-bit integer. */
  u32(value: number): void {
    const at = this.#reserve(4);
    this.#view.setUint32(at, value, true);
  }

  /** Appends a float64 (used for safe integers). */
  f64(value: number): void {
    const at = this.#reserve(8);
    this.#view.setFloat64(at, value, true);
  }

  /** Appends raw bytes. */
  raw(bytes: Uint8Array): void {
    const at = this.#reserve(bytes.length);
    this.#bytes.set(bytes, at);
  }

  /** Appends a string as its UTF-8 byte length (u32) then its bytes. */
  string(text: string): void {
    if (text.length <= SHORT_ENCODE_UNITS) {
      // Short keys and values are mostly ASCII: copying the code units beats the
      // fixed cost of a native encoder call; the first non-ASCII unit falls back.
      const at = this.#reserve(4 + text.length);
      const bytes = this.#bytes;
      let i = 0;
      for (; i < text.length; i++) {
        const unit = text.charCodeAt(i);
        if (unit >= 0x80) break;
        bytes[at + 4 + i] = unit;
      }
      if (i === text.length) {
        this.#view.setUint32(at, text.length, true);
        return;
      }
      this.#length = at;
    }
    // Room for the worst case (3 UTF-8 bytes per UTF-16 unit) and one
    // encoding pass, the length written after: measuring each string first
    // was a second scan of every key and value of a snapshot.
    const maxBytes = 3 * text.length;
    const roomAt = this.#length;
    if (roomAt + 4 + maxBytes > this.#bytes.length && roomAt + 4 <= this.#bytes.length) {
      // The worst case does not fit the room left, the text itself may: an
      // exactly sized buffer (a snapshot's) was otherwise doubled for its last
      // long value and trimmed again, two copies of tens of MB in one turn.
      const fitted = encoder.encodeInto(text, this.#bytes.subarray(roomAt + 4));
      if (fitted.read === text.length) {
        this.#reserve(4 + fitted.written);
        this.#view.setUint32(roomAt, fitted.written, true);
        return;
      }
    }
    const at = this.#reserve(4 + maxBytes);
    const { read, written } = encoder.encodeInto(
      text,
      this.#bytes.subarray(at + 4, at + 4 + maxBytes),
    );
    if (read !== text.length) {
      throw new Error(`ByteWriter: encoded ${read} of ${text.length} UTF-16 units`);
    }
    this.#view.setUint32(at, written, true);
    this.#length = at + 4 + written;
  }

  /** Appends a copy of the `sizeBytes` bytes already written at `from`. */
  repeat(from: number, sizeBytes: number): void {
    if (from < 0 || from + sizeBytes > this.#length) {
      throw new RangeError(`ByteWriter.repeat: [${from}, ${from + sizeBytes}) is not written`);
    }
    const at = this.#reserve(sizeBytes);
    this.#bytes.copyWithin(at, from, from + sizeBytes);
  }

  /** The u32 written at `at`. */
  u32At(at: number): number {
    if (at < 0 || at + 4 > this.#length) {
      throw new RangeError(`ByteWriter.u32At: ${at} is not written`);
    }
    return this.#view.getUint32(at, true);
  }

  /**
   * The bytes written, owned by the caller; the writer must not be used
   * after. The buffer itself when it is exactly full, else a copy.
   */
  take(): Uint8Array {
    return this.#length === this.#bytes.length ? this.#bytes : this.#bytes.slice(0, this.#length);
  }

  /** The bytes written, as a view of the internal buffer. */
  view(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }
}

/** Thrown by {@link ByteReader} when the input ends early or holds invalid text. */
export class ByteReadError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ByteReadError";
  }
}

/**
 * Fills `into` from its start with the next bytes of a stream; returns how
 * many it wrote, 0 only at the end of the stream.
 */
export type ByteSource = (into: Uint8Array) => number;

/**
 * Bytes pulled from a {@link ByteSource} at a time. A snapshot file is as
 * large as the store: reading it whole meant a buffer of that size, whose
 * fresh pages cost more than the reading itself.
 */
const STREAM_BUFFER_BYTES = 4 * 1024 * 1024;

/**
 * A bounds-checked cursor over bytes: a whole array, or a stream pulled a
 * buffer at a time. Values read from a stream (strings, numbers) are copies;
 * {@link ByteReader.raw} views are valid only until the next read.
 */
export class ByteReader {
  #bytes: Uint8Array;
  #view: DataView;
  #offset = 0;
  /** End of the valid bytes in `#bytes`. */
  #end: number;
  readonly #source: ByteSource | undefined;
  /** Bytes before `#bytes[0]`, already consumed and discarded. */
  #discardedBytes = 0;
  /** CRC-32C of the discarded bytes, when asked for (`trackChecksum`). */
  #discardedCrc = 0;
  readonly #trackChecksum: boolean;
  #sourceEnded = false;

  /**
   * Reads `bytes` from the start; or, given a `source`, the stream it yields
   * (`bytes` is then ignored). `trackChecksum` keeps the CRC-32C of what was
   * read, for {@link ByteReader.checksumSoFar}.
   */
  constructor(bytes: Uint8Array, source?: ByteSource, trackChecksum = false) {
    this.#source = source;
    this.#trackChecksum = trackChecksum;
    this.#bytes = source === undefined ? bytes : new Uint8Array(STREAM_BUFFER_BYTES);
    this.#end = source === undefined ? bytes.length : 0;
    this.#view = new DataView(this.#bytes.buffer, this.#bytes.byteOffset, this.#bytes.byteLength);
  }

  /** Current position. */
  get offset(): number {
    return this.#discardedBytes + this.#offset;
  }

  /** Bytes left (of a stream: buffered so far; see {@link ByteReader.atEnd}). */
  get remaining(): number {
    return this.#end - this.#offset;
  }

  /** Whether a stream's source reported its end (an array's end is always known). */
  get sourceEnded(): boolean {
    return this.#source === undefined || this.#sourceEnded;
  }

  /** Whether every byte was read (pulls from a stream to find out). */
  atEnd(): boolean {
    if (this.remaining === 0 && this.#source !== undefined) this.#pull(1);
    return this.remaining === 0;
  }

  /** The CRC-32C of every byte read so far (needs `trackChecksum`). */
  checksumSoFar(): number {
    if (!this.#trackChecksum) throw new Error("ByteReader: the checksum is not tracked");
    return crc32cRange(this.#bytes, 0, this.#offset, this.#discardedCrc);
  }

  /** Makes at least `sizeBytes` unread bytes buffered if the stream has them. */
  #pull(sizeBytes: number): void {
    const source = this.#source!;
    if (this.#trackChecksum) {
      this.#discardedCrc = crc32cRange(this.#bytes, 0, this.#offset, this.#discardedCrc);
    }
    this.#discardedBytes += this.#offset;
    this.#bytes.copyWithin(0, this.#offset, this.#end);
    this.#end -= this.#offset;
    this.#offset = 0;
    for (;;) {
      if (this.#end === this.#bytes.length) {
        if (this.#end >= sizeBytes) return;
        // One item larger than the buffer: it grows as the bytes arrive, so a
        // corrupt length cannot make it larger than twice the stream.
        const grown = new Uint8Array(2 * this.#bytes.length);
        grown.set(this.#bytes);
        this.#bytes = grown;
        this.#view = new DataView(grown.buffer);
      }
      const room = this.#bytes.length - this.#end;
      const n = source(this.#bytes.subarray(this.#end));
      if (!(Number.isInteger(n) && n >= 0 && n <= room)) {
        throw new RangeError(`ByteReader: the source reported ${n} bytes for ${room} of room`);
      }
      if (n === 0) {
        this.#sourceEnded = true;
        return;
      }
      this.#end += n;
    }
  }

  #take(sizeBytes: number, what: string): number {
    if (sizeBytes > this.remaining && this.#source !== undefined) this.#pull(sizeBytes);
    if (sizeBytes > this.remaining) {
      throw new ByteReadError(
        `${what} needs ${sizeBytes} bytes at offset ${this.offset}, only ${this.remaining} left`,
      );
    }
    const at = this.#offset;
    this.#offset += sizeBytes;
    return at;
  }

  /** Reads one byte. */
  u8(what: string): number {
    return this.#bytes[this.#take(1, what)];
  }

  /** Reads an unsigned 32-bit integer. */
  u32(what: string): number {
    return this.#view.getUint32(this.#take(4, what), true);
  }

  /** Reads a float64. */
  f64(what: string): number {
    return this.#view.getFloat64(this.#take(8, what), true);
  }

  /** Reads `sizeBytes` raw bytes (a view). */
  raw(sizeBytes: number, what: string): Uint8Array {
    const at = this.#take(sizeBytes, what);
    return this.#bytes.subarray(at, at + sizeBytes);
  }

  /** Reads a string written by {@link ByteWriter.string}. */
  string(what: string): string {
    const sizeBytes = this.#view.getUint32(this.#take(4, `${what} length`), true);
    const at = this.#take(sizeBytes, what);
    const text = decodeUtf8(this.#bytes, at, at + sizeBytes);
    if (text === undefined) throw new ByteReadError(`${what} is not valid UTF-8`);
    return text;
  }
}
