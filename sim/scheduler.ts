/**
 * A discrete-event scheduler over virtual time. Events fire in order of
 * `(timeUs, seq)`: equal times break ties by insertion order, so a run is a
 * pure function of its seed.
 *
 * @module
 */

/** One scheduled action. */
interface ScheduledEvent {
  timeUs: number;
  seq: number;
  run: () => void;
}

/**
 * A min-heap of events over virtual microseconds.
 *
 * @example
 * ```ts
 * import { Scheduler } from "./scheduler.ts";
 * const s = new Scheduler();
 * const order: string[] = [];
 * s.at(20, () => order.push("b"));
 * s.at(10, () => order.push("a"));
 * s.runUntil(100, 10);
 * console.assert(order.join() === "a,b");
 * ```
 */
export class Scheduler {
  #heap: ScheduledEvent[] = [];
  #seq = 0;
  #nowUs = 0;
  #executed = 0;

  /** Current virtual time in microseconds. */
  get nowUs(): number {
    return this.#nowUs;
  }

  /** Number of events run so far. */
  get executed(): number {
    return this.#executed;
  }

  /** Number of events waiting. */
  get pending(): number {
    return this.#heap.length;
  }

  /** Schedules `run` at absolute time `timeUs` (never in the past). */
  at(timeUs: number, run: () => void): void {
    if (!(timeUs >= this.#nowUs)) {
      throw new RangeError(`Scheduler.at: ${timeUs}us is before now (${this.#nowUs}us)`);
    }
    const event = { timeUs, seq: this.#seq++, run };
    const heap = this.#heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(event, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = event;
  }

  /** Schedules `run` after `delayUs` from now. */
  after(delayUs: number, run: () => void): void {
    this.at(this.#nowUs + Math.max(0, delayUs), run);
  }

  /**
   * Runs events up to and including `untilUs`, at most `maxEvents` of them.
   * Returns the number run. Time then stands at `untilUs` unless the budget ran out.
   */
  runUntil(untilUs: number, maxEvents: number): number {
    let ran = 0;
    while (ran < maxEvents && this.#heap.length > 0 && this.#heap[0].timeUs <= untilUs) {
      const event = this.#pop();
      this.#nowUs = event.timeUs;
      this.#executed++;
      ran++;
      event.run();
    }
    if (ran < maxEvents && untilUs > this.#nowUs) this.#nowUs = untilUs;
    return ran;
  }

  #pop(): ScheduledEvent {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && before(heap[r], heap[l]) ? r : l;
        if (!before(heap[c], last)) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }
}

function before(a: ScheduledEvent, b: ScheduledEvent): boolean {
  return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq < b.seq);
}
