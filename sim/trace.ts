/**
 * The trace of a simulation: a running hash over every recorded event (so
 * two runs of one seed can be compared cheaply) and a bounded ring of the
 * latest events, formatted only when a failure is reported.
 *
 * @module
 */

/** One recorded event: virtual time, node, kind, and a few numbers. */
export interface TraceEvent {
  /** Virtual time in microseconds. */
  timeUs: number;
  /** Node concerned, or "-" for cluster-wide events. */
  node: string;
  /** What happened. */
  kind: string;
  /** Free-form detail, hashed as text. */
  detail: string;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * Records events into a FNV-1a hash and a ring buffer of the last `tailSize`.
 *
 * @example
 * ```ts
 * import { Trace } from "./trace.ts";
 * const a = new Trace(4), b = new Trace(4);
 * a.record(1, "n1", "tick", ""); b.record(1, "n1", "tick", "");
 * console.assert(a.hash === b.hash);
 * ```
 */
export class Trace {
  #hash = FNV_OFFSET;
  #ring: Array<TraceEvent | LazyEvent> = [];
  #next = 0;
  #count = 0;
  readonly #tailSize: number;
  /** When set, every event is also passed here (used by `--seed` replay printing). */
  onEvent: ((e: TraceEvent) => void) | undefined;

  /** Keeps the last `tailSize` events for reports. */
  constructor(tailSize: number) {
    if (!(tailSize > 0)) throw new RangeError("Trace: tailSize must be positive");
    this.#tailSize = tailSize;
  }

  /** Number of events recorded. */
  get count(): number {
    return this.#count;
  }

  /** The hash of everything recorded so far, as 8 hex digits. */
  get hash(): string {
    return (this.#hash >>> 0).toString(16).padStart(8, "0");
  }

  /** Records one event. */
  record(timeUs: number, node: string, kind: string, detail: string): void {
    let h = this.#hash;
    h = mix(h, timeUs);
    h = mixText(h, node);
    h = mixText(h, kind);
    h = mixText(h, detail);
    this.#hash = h;
    this.#keep({ timeUs, node, kind, detail });
  }

  /**
   * Records a frequent event cheaply: `fields` (and `peer`) are hashed as
   * numbers, and the readable detail is only formatted, as `format(subject)`,
   * if the event is ever shown. `format` must render exactly what `fields`
   * and `peer` say. `fields` is read at once (callers may reuse the array).
   */
  recordFields<T>(
    timeUs: number,
    node: string,
    kind: string,
    peer: string,
    fields: readonly number[],
    subject: T,
    format: (subject: T) => string,
  ): void {
    let h = this.#hash;
    h = mix(h, timeUs);
    h = mixText(h, node);
    h = mixText(h, kind);
    h = mixText(h, peer);
    for (let i = 0; i < fields.length; i++) h = mix(h, fields[i]);
    this.#hash = h;
    this.#keep({ timeUs, node, kind, subject, format: format as (subject: unknown) => string });
  }

  #keep(event: TraceEvent | LazyEvent): void {
    this.#count++;
    if (this.#ring.length < this.#tailSize) this.#ring.push(event);
    else this.#ring[this.#next] = event;
    this.#next = (this.#next + 1) % this.#tailSize;
    if (this.onEvent) this.onEvent(materialize(event));
  }

  /** The last events, oldest first. */
  tail(): TraceEvent[] {
    const ordered = this.#ring.length < this.#tailSize
      ? this.#ring.slice()
      : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    return ordered.map(materialize);
  }
}

interface LazyEvent {
  timeUs: number;
  node: string;
  kind: string;
  subject: unknown;
  format: (subject: unknown) => string;
}

function materialize(e: TraceEvent | LazyEvent): TraceEvent {
  return "format" in e
    ? { timeUs: e.timeUs, node: e.node, kind: e.kind, detail: e.format(e.subject) }
    : e;
}

/** Formats one event as a readable line. */
export function formatTraceEvent(e: TraceEvent): string {
  const ms = (e.timeUs / 1000).toFixed(3).padStart(10);
  return `${ms}ms ${e.node.padEnd(4)} ${e.kind.padEnd(14)} ${e.detail}`;
}

function mix(h: number, n: number): number {
  // Virtual times are fractional microseconds: hash whole nanoseconds, low and high words.
  // Integer operations only after the rounding (a floating-point remainder per field was
  // a visible part of tracing).
  const x = Math.round(n * 1000);
  const low = x >>> 0;
  const high = ((x - low) / 0x1_0000_0000) | 0;
  h = Math.imul(h ^ (low & 0xffff), FNV_PRIME);
  h = Math.imul(h ^ (low >>> 16), FNV_PRIME);
  h = Math.imul(h ^ (high & 0xffff), FNV_PRIME);
  return Math.imul(h ^ (high >>> 16), FNV_PRIME);
}

function mixText(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return Math.imul(h ^ 0xff, FNV_PRIME);
}
