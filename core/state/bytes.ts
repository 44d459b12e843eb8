/**
 * Little-endian byte writing and bounds-checked reading for the state
 * machine's snapshot format. Numbers are float64, exact for the safe
 * integers used for revisions, indices and lease ids.
 *
 * @module
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

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
    // Room for the worst case (3 UTF-8 bytes per UTF-16 unit) and one
    // encoding pass, the length written after: measuring each string first
    // was a second scan of every key and value of a snapshot.
    const maxBytes = 3 * text.length;
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

/** A bounds-checked cursor over bytes. */
export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #offset = 0;

  /** Reads `bytes` from the start. */
  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Current position. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes left. */
  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  #take(sizeBytes: number, what: string): number {
    if (sizeBytes > this.remaining) {
      throw new ByteReadError(
        `${what} needs ${sizeBytes} bytes at offset ${this.#offset}, only ${this.remaining} left`,
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
    const sizeBytes = this.u32(`${what} length`);
    const bytes = this.raw(sizeBytes, what);
    try {
      return decoder.decode(bytes);
    } catch {
      throw new ByteReadError(`${what} is not valid UTF-8`);
    }
  }
}
