/**
 * A discrete-event scheduler over virtual time. Events fire in order of
 * `(timeUs, seq)`: equal times break ties by insertion order, so a run is a
 * pure function of its seed.
 *
 * @module
 */

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
  // The heap as parallel arrays (time, sequence, action): no object per event.
  #times: number[] = [];
  #seqs: number[] = [];
  #runs: Array<() => void> = [];
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
    return this.#times.length;
  }

  /** Schedules `run` at absolute time `timeUs` (never in the past). */
  at(timeUs: number, run: () => void): void {
    if (!(timeUs >= this.#nowUs)) {
      throw new RangeError(`Scheduler.at: ${timeUs}us is before now (${this.#nowUs}us)`);
    }
    const seq = this.#seq++;
    const times = this.#times;
    const seqs = this.#seqs;
    const runs = this.#runs;
    let i = times.length;
    times.push(timeUs);
    seqs.push(seq);
    runs.push(run);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!(timeUs < times[parent] || (timeUs === times[parent] && seq < seqs[parent]))) break;
      times[i] = times[parent];
      seqs[i] = seqs[parent];
      runs[i] = runs[parent];
      i = parent;
    }
    times[i] = timeUs;
    seqs[i] = seq;
    runs[i] = run;
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
    const times = this.#times;
    while (ran < maxEvents && times.length > 0 && times[0] <= untilUs) {
      this.#nowUs = times[0];
      const run = this.#pop();
      this.#executed++;
      ran++;
      run();
    }
    if (ran < maxEvents && untilUs > this.#nowUs) this.#nowUs = untilUs;
    return ran;
  }

  /** Removes the earliest event and returns its action. */
  #pop(): () => void {
    const times = this.#times;
    const seqs = this.#seqs;
    const runs = this.#runs;
    const top = runs[0];
    const lastTime = times.pop()!;
    const lastSeq = seqs.pop()!;
    const lastRun = runs.pop()!;
    const n = times.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (times[r] < times[l] || (times[r] === times[l] && seqs[r] < seqs[l]))
          ? r
          : l;
        if (!(times[c] < lastTime || (times[c] === lastTime && seqs[c] < lastSeq))) break;
        times[i] = times[c];
        seqs[i] = seqs[c];
        runs[i] = runs[c];
        i = c;
      }
      times[i] = lastTime;
      seqs[i] = lastSeq;
      runs[i] = lastRun;
    }
    return top;
  }
}
