/**
 * Deterministic pseudo-random numbers for the pure core.
 *
 * The core never reads a global random source: every component that needs
 * randomness (randomized election timeouts, balancer choices) takes an {@link Rng}
 * from its caller, so that a simulation seed replays exactly.
 *
 * @module
 */

/** A source of uniformly distributed numbers. */
export interface Rng {
  /** Returns a float in [0, 1). */
  next(): number;
  /** Returns an integer in [0, bound). `bound` must be a positive safe integer. */
  int(bound: number): number;
}

/**
 * A small, fast, seedable PRNG (sfc32 seeded through splitmix32).
 *
 * @example
 * ```ts
 * import { SeededRng } from "@safla/core";
 * const rng = new SeededRng(42);
 * const a = rng.int(10);
 * const b = new SeededRng(42).int(10);
 * console.assert(a === b);
 * ```
 */
export class SeededRng implements Rng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Creates a generator whose whole sequence is determined by `seed`. */
  constructor(seed: number) {
    let s = seed >>> 0;
    const split = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = split();
    this.#b = split();
    this.#c = split();
    this.#d = split();
    for (let i = 0; i < 12; i++) this.#u32();
  }

  #u32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** Returns a float in [0, 1). */
  next(): number {
    return this.#u32() / 4294967296;
  }

  /** Returns an integer in [0, bound). */
  int(bound: number): number {
    if (!(bound > 0) || !Number.isSafeInteger(bound)) {
      throw new RangeError(`Rng.int: bound must be a positive safe integer, got ${bound}`);
    }
    return Math.floor(this.next() * bound);
  }

  /** Derives an independent generator, so subsystems do not perturb each other's streams. */
  fork(): SeededRng {
    return new SeededRng(this.#u32());
  }
}
