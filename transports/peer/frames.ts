/**
 * Length-prefixed frames over a byte stream: `[u32 length][u8 kind][payload]`.
 *
 * @module
 */

/** Frame kinds of the peer protocol. */
export const FrameKind = { hello: 1, challenge: 2, auth: 3, messages: 4 } as const;

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

/**
 * Reads frames from a stream, refusing any frame larger than `maxFrameBytes`
 * before buffering it.
 */
export class FrameReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  /** Wraps a byte stream. */
  constructor(stream: ReadableStream<Uint8Array>, readonly maxFrameBytes: number) {
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

  /** Gives the stream back without closing it (the connection stays usable). */
  release(): void {
    this.#reader.releaseLock();
  }
}
