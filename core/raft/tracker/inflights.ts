/**
 * The window of append messages sent to one follower and not yet
 * acknowledged: the flow control of pipelined replication.
 *
 * @module
 */

/** Thrown when {@link Inflights} is used against its contract (a bug in the caller). */
export class InflightsError extends Error {
  /** Creates the error with a message saying which rule was broken. */
  constructor(message: string) {
    super(message);
    this.name = "InflightsError";
  }
}

/**
 * A bounded FIFO of in-flight append messages, each identified by the last
 * log index it carries. It is full when it holds `capacity` messages, or when
 * the messages hold at least `maxBytes` of entries (0 means no byte limit);
 * a leader stops sending to a follower while its window is full.
 *
 * A ring buffer that grows lazily up to `capacity`, so that idle followers
 * cost little memory.
 *
 * @example
 * ```ts
 * import { Inflights } from "@safla/core/raft";
 * const window = new Inflights(2, 0);
 * window.add(5, 100);
 * window.add(9, 100);
 * console.assert(window.full());
 * window.freeLE(5);
 * console.assert(window.count === 1 && window.bytes === 100);
 * ```
 */
export class Inflights {
  /** Maximum number of messages in flight. */
  readonly capacity: number;
  /** Maximum total payload size in bytes; 0 means unlimited. */
  readonly maxBytes: number;
  #start = 0;
  #count = 0;
  #bytes = 0;
  #indices: number[] = [];
  #sizes: number[] = [];

  /** Creates an empty window. `capacity` ≥ 1 and `maxBytes` ≥ 0 are safe integers. */
  constructor(capacity: number, maxBytes: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new InflightsError(`capacity must be a positive safe integer, got ${capacity}`);
    }
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new InflightsError(`maxBytes must be a non-negative safe integer, got ${maxBytes}`);
    }
    this.capacity = capacity;
    this.maxBytes = maxBytes;
  }

  /** Number of messages in flight. */
  get count(): number {
    return this.#count;
  }

  /** Total payload bytes in flight. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Records a message whose last entry is `index`, carrying `sizeBytes` of
   * entries. Indices must strictly increase; the window must not be full.
   */
  add(index: number, sizeBytes: number): void {
    if (this.full()) {
      throw new InflightsError(
        `cannot add index ${index}: window full (${this.#count}/${this.capacity} messages, ` +
          `${this.#bytes}/${this.maxBytes} bytes)`,
      );
    }
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new InflightsError(`index must be a non-negative safe integer, got ${index}`);
    }
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      throw new InflightsError(`sizeBytes must be a non-negative safe integer, got ${sizeBytes}`);
    }
    if (this.#count > 0) {
      const last = this.#indices[this.#slot(this.#count - 1)];
      if (index <= last) {
        throw new InflightsError(`index ${index} must exceed the last in-flight index ${last}`);
      }
    }
    if (this.#count === this.#indices.length) this.#grow();
    const slot = this.#slot(this.#count);
    this.#indices[slot] = index;
    this.#sizes[slot] = sizeBytes;
    this.#count++;
    this.#bytes += sizeBytes;
  }

  /** Frees every message whose last index is ≤ `index` (they were acknowledged). */
  freeLE(index: number): void {
    let freed = 0;
    while (freed < this.#count && this.#indices[this.#slot(freed)] <= index) {
      this.#bytes -= this.#sizes[this.#slot(freed)];
      freed++;
    }
    this.#count -= freed;
    this.#start = this.#count === 0 ? 0 : this.#slot(freed);
  }

  /** Whether no more messages may be sent until some are acknowledged. */
  full(): boolean {
    return this.#count === this.capacity || (this.maxBytes !== 0 && this.#bytes >= this.maxBytes);
  }

  /** Forgets every message in flight. */
  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytes = 0;
  }

  /** The last indices of the messages in flight, oldest first. */
  indices(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.#count; i++) out.push(this.#indices[this.#slot(i)]);
    return out;
  }

  /** An independent copy with the same messages in flight. */
  clone(): Inflights {
    const copy = new Inflights(this.capacity, this.maxBytes);
    for (let i = 0; i < this.#count; i++) {
      const slot = this.#slot(i);
      copy.#indices.push(this.#indices[slot]);
      copy.#sizes.push(this.#sizes[slot]);
    }
    copy.#count = this.#count;
    copy.#bytes = this.#bytes;
    return copy;
  }

  #slot(offset: number): number {
    const slot = this.#start + offset;
    const length = this.#indices.length;
    return slot >= length ? slot - length : slot;
  }

  #grow(): void {
    const length = Math.min(this.capacity, Math.max(1, this.#indices.length * 2));
    const indices: number[] = [];
    const sizes: number[] = [];
    for (let i = 0; i < this.#count; i++) {
      indices.push(this.#indices[this.#slot(i)]);
      sizes.push(this.#sizes[this.#slot(i)]);
    }
    indices.length = length;
    sizes.length = length;
    indices.fill(0, this.#count);
    sizes.fill(0, this.#count);
    this.#indices = indices;
    this.#sizes = sizes;
    this.#start = 0;
  }
}
