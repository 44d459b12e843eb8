/**
 * What one node holds of one quota: the slices it was granted, each spendable
 * until its expiry on this node's clock. Calls are admitted against the
 * wallet alone (no consensus on the call path); the node asks for the next
 * slice when what it holds falls to the low-water mark, so a steady caller
 * never waits for a grant. A node cut off from the leader spends what it
 * holds and then refuses: nothing here admits a call without a token.
 *
 * A slice's expiry is counted from when the node *asked* for it, not from
 * when the grant arrived: the grant was written at some moment in between,
 * so the node never holds a slice longer than the TTL after its tokens left
 * the bucket.
 *
 * @example
 * ```ts
 * import { Wallet } from "./wallet.ts";
 * const w = new Wallet({ lowWaterTokens: 1 });
 * w.add(2, 1_000);
 * console.assert(w.admit(500) && w.admit(600) && !w.admit(700));
 * w.add(5, 1_000);
 * console.assert(!w.admit(1_000)); // expired
 * ```
 *
 * @module
 */

/** One granted slice. */
export interface Slice {
  /** Tokens not spent yet. */
  remaining: number;
  /** Clock reading (this node's) at which the rest of the slice is void. */
  readonly expiresAtMs: number;
}

/** Tuning of a {@link Wallet}. */
export interface WalletOptions {
  /** Ask for more once this many tokens (or fewer) are left. */
  readonly lowWaterTokens: number;
  /** Most slices held at once; more are refused (a bound on a fast grantor). Default 8. */
  readonly maxSlices?: number;
}

/** The slices one node holds of one quota. */
export class Wallet {
  readonly #slices: Slice[] = [];
  readonly #lowWaterTokens: number;
  readonly #maxSlices: number;

  /** An empty wallet. */
  constructor(options: WalletOptions) {
    this.#lowWaterTokens = options.lowWaterTokens;
    this.#maxSlices = options.maxSlices ?? 8;
  }

  /** Adds a granted slice; false (and nothing held) when the wallet already holds its most. */
  add(count: number, expiresAtMs: number): boolean {
    if (!(Number.isSafeInteger(count) && count >= 0)) {
      throw new RangeError(`slice count must be a non-negative integer, got ${count}`);
    }
    if (count === 0) return true;
    if (this.#slices.length >= this.#maxSlices) return false;
    this.#slices.push({ remaining: count, expiresAtMs });
    // Spend the soonest-expiring first: fewer tokens expire unspent.
    this.#slices.sort((a, b) => a.expiresAtMs - b.expiresAtMs);
    return true;
  }

  /** Spends one token if a live slice has one. */
  admit(nowMs: number): boolean {
    this.#dropExpired(nowMs);
    const slice = this.#slices[0];
    if (slice === undefined) return false;
    slice.remaining--;
    if (slice.remaining === 0) this.#slices.shift();
    return true;
  }

  /** Tokens spendable at `nowMs`. */
  available(nowMs: number): number {
    this.#dropExpired(nowMs);
    let sum = 0;
    for (const s of this.#slices) sum += s.remaining;
    return sum;
  }

  /** True when the wallet is at or below its low-water mark: time to ask for a slice. */
  wantsRefill(nowMs: number): boolean {
    return this.available(nowMs) <= this.#lowWaterTokens;
  }

  // Slices are sorted by expiry: once the head is live, all the rest are.
  #dropExpired(nowMs: number): void {
    while (this.#slices.length > 0 && this.#slices[0].expiresAtMs <= nowMs) {
      this.#slices.shift();
    }
  }
}
