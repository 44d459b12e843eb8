/**
 * Length-prefixed frames over a byte stream: `[u32 length][u8 kind][payload]`.
 *
 * @module
 */

/**
 * Frame kinds of the peer protocol. Kinds 1-3 were handshake v1 (whose
 * server proved itself before the client); only `legacyHello` is still
 * recognised, to tell an old dialler why it is refused.
 */
export const FrameKind = {
  legacyHello: 1,
  messages: 4,
  hello: 5,
  challenge: 6,
  proof: 7,
  accept: 8,
  refused: 9,
} as const;

/** One frame read from a stream. */
export interface Frame {
  /** One of {@link FrameKind}. */
  kind: number;
  /** The frame's body. */
  payload: Uint8Array<ArrayBuffer>;
}

/** A peer sent a frame that breaks the protocol. */
export class FrameError extends Error {
  /** Creates the error with what is wrong. */
  constructor(detail: string) {
    super(`peer protocol error: ${detail}`);
    this.name = "FrameError";
  }
}

/** Encodes one frame. */
export function encodeFrame(kind: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length + 1, true);
  out[4] = kind;
  out.set(payload, 5);
  return out;
}

/** The read buffer a reader starts with; it grows to the largest frame read. */
const INITIAL_BUFFER_BYTES = 4096;

/**
 * Reads frames from a stream, refusing any frame larger than `maxFrameBytes`
 * before buffering it. The limit may be raised once the peer is trusted:
 * before authentication a connection can make us hold only a few KiB.
 */
export class FrameReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = new Uint8Array(INITIAL_BUFFER_BYTES);
  #start = 0;
  #end = 0;

  /** Wraps a byte stream. */
  constructor(stream: ReadableStream<Uint8Array>, public maxFrameBytes: number) {
    this.#reader = stream.getReader();
  }

  async #fill(need: number): Promise<boolean> {
    while (this.#end - this.#start < need) {
      if (this.#buffer.length - this.#start < need) {
        const size = Math.max(this.#buffer.length, need * 2);
        const next = new Uint8Array(size);
        next.set(this.#buffer.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buffer = next;
      }
      const { value, done } = await this.#reader.read();
      if (done) return false;
      // Reads stop once a frame is whole: the buffer holds one frame plus one read's chunk.
      if (this.#end + value.length > this.#buffer.length) {
        const next = new Uint8Array(
          Math.max(this.#buffer.length * 2, this.#end - this.#start + value.length),
        );
        next.set(this.#buffer.subarray(this.#start, this.#end));
        this.#end -= this.#start;
        this.#start = 0;
        this.#buffer = next;
      }
      this.#buffer.set(value, this.#end);
      this.#end += value.length;
    }
    return true;
  }

  /** The next frame, or undefined at a clean end of stream. */
  async next(): Promise<Frame | undefined> {
    if (!(await this.#fill(4))) {
      if (this.#end > this.#start) throw new FrameError("stream ended inside a frame header");
      return undefined;
    }
    const length = new DataView(this.#buffer.buffer, this.#start, 4).getUint32(0, true);
    if (length === 0 || length > this.maxFrameBytes) {
      throw new FrameError(`frame of ${length} bytes (limit ${this.maxFrameBytes})`);
    }
    if (!(await this.#fill(4 + length))) throw new FrameError("stream ended inside a frame");
    const kind = this.#buffer[this.#start + 4];
    const payload = this.#buffer.slice(this.#start + 5, this.#start + 4 + length);
    this.#start += 4 + length;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return { kind, payload };
  }

  /**
   * Whether the unread bytes start like a TLS record (content type 20-23,
   * major version 3): what a peer configured for TLS sends to one that is not.
   */
  looksLikeTls(): boolean {
    if (this.#end - this.#start < 2) return false;
    const type = this.#buffer[this.#start];
    return type >= 20 && type <= 23 && this.#buffer[this.#start + 1] === 3;
  }

  /** Gives the stream back without closing it (the connection stays usable). */
  release(): void {
    this.#reader.releaseLock();
  }
}
