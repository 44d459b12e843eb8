/**
 * Cluster-wide quotas on the node (DESIGN.md §8): a call is admitted from
 * the node's wallet of slices for each bucket it counts against
 * (`@safla/core/quota`); slices come from the replicated bucket records under
 * `/gateway/quota/` through one compare-and-swap each. A wallet at its
 * low-water mark asks for the next slice in the background, so a steady
 * caller never waits for consensus; only a call that finds its wallet empty
 * waits for the slice already on its way (at most `waitForSliceMs`). A node
 * cut off from the leader cannot write, so it spends what it holds and then
 * refuses.
 *
 * @module
 */
import type { Principal } from "@safla/core/access";
import {
  bucketsFor,
  type QuotaBucket,
  type QuotaRule,
  sliceTxn,
  Wallet,
  wantedSliceTokens,
} from "@safla/core/quota";
import type { KeyValue } from "@safla/core/state";
import type { StateStore } from "../store/types.ts";

/** Tuning of {@link QuotaAdmission}. */
export interface QuotaAdmissionOptions {
  /** How long a granted slice may be spent, ms (default 2000). */
  sliceTtlMs?: number;
  /** Longest wait of a call whose wallet is empty for the slice on its way (default 1000). */
  waitForSliceMs?: number;
  /** The node's clock (default `Date.now`). */
  nowMs?: () => number;
  /** Most buckets tracked at once; the least recently used is forgotten (default 10 000). */
  maxBuckets?: number;
}

/** A refused call: which rule, and when a token is due. */
export interface QuotaRefusal {
  rule: number;
  retryAfterMs: number;
}

interface BucketState {
  readonly bucket: QuotaBucket;
  readonly wallet: Wallet;
  readonly wanted: number;
  current: Pick<KeyValue, "value" | "modRevision"> | undefined;
  inFlight: Promise<void> | undefined;
  /** The bucket was empty: no slice request before this clock reading. */
  notBeforeMs: number;
}

/** Admits calls against the configured quotas: see the module doc. */
export class QuotaAdmission {
  readonly #store: Pick<StateStore, "txn">;
  readonly #rules: readonly QuotaRule[];
  readonly #sliceTtlMs: number;
  readonly #waitMs: number;
  readonly #nowMs: () => number;
  readonly #maxBuckets: number;
  readonly #buckets = new Map<string, BucketState>();
  /** Slices granted to this node (each one replicated write). */
  slicesGranted = 0;

  /** Quotas `rules`, their buckets kept in `store`. */
  constructor(
    store: Pick<StateStore, "txn">,
    rules: readonly QuotaRule[],
    options: QuotaAdmissionOptions = {},
  ) {
    this.#store = store;
    this.#rules = rules;
    this.#sliceTtlMs = options.sliceTtlMs ?? 2_000;
    this.#waitMs = options.waitForSliceMs ?? 1_000;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#maxBuckets = options.maxBuckets ?? 10_000;
  }

  /** True when some quota is configured. */
  get active(): boolean {
    return this.#rules.length > 0;
  }

  /**
   * Takes one token from every bucket the call counts against; undefined
   * when admitted, else the refusal of the first bucket that had none (tokens
   * already taken from others are not given back: the call was attempted).
   */
  async admit(
    principal: Principal,
    service: string,
    tool: string,
  ): Promise<QuotaRefusal | undefined> {
    for (const bucket of bucketsFor(this.#rules, principal, service, tool)) {
      const state = this.#state(bucket);
      if (!await this.#take(state)) {
        const retryAfterMs = Math.max(
          1,
          Math.ceil(1000 / bucket.rate.ratePerSec),
          state.notBeforeMs - this.#nowMs(),
        );
        return { rule: bucket.rule, retryAfterMs };
      }
    }
    return undefined;
  }

  async #take(state: BucketState): Promise<boolean> {
    if (state.wallet.admit(this.#nowMs())) {
      if (state.wallet.wantsRefill(this.#nowMs())) this.#refill(state);
      return true;
    }
    const arriving = this.#refill(state);
    if (arriving !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        arriving,
        new Promise((resolve) => timer = setTimeout(resolve, this.#waitMs)),
      ]);
      clearTimeout(timer);
    }
    return state.wallet.admit(this.#nowMs());
  }

  #state(bucket: QuotaBucket): BucketState {
    let state = this.#buckets.get(bucket.key);
    if (state !== undefined) {
      // Map order is insertion order: re-inserting keeps the most recent last.
      this.#buckets.delete(bucket.key);
      this.#buckets.set(bucket.key, state);
      return state;
    }
    const wanted = wantedSliceTokens(bucket.rate, this.#sliceTtlMs);
    state = {
      bucket,
      wallet: new Wallet({ lowWaterTokens: Math.ceil(wanted / 4) }),
      wanted,
      current: undefined,
      inFlight: undefined,
      notBeforeMs: -Infinity,
    };
    this.#buckets.set(bucket.key, state);
    if (this.#buckets.size > this.#maxBuckets) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    return state;
  }

  /** Starts a slice request unless one is on its way or the bucket is known empty. */
  #refill(state: BucketState): Promise<void> | undefined {
    if (state.inFlight !== undefined) return state.inFlight;
    if (this.#nowMs() < state.notBeforeMs) return undefined;
    state.inFlight = this.#requestSlice(state).catch(() => {
      // No quorum or no leader: this node spends what it holds, then refuses.
    }).finally(() => state.inFlight = undefined);
    return state.inFlight;
  }

  async #requestSlice(state: BucketState): Promise<void> {
    const { key, rate } = state.bucket;
    // A lost compare (another node took a slice) reads the record back: retry with it.
    for (let attempt = 0; attempt < 4; attempt++) {
      const clockMs = this.#nowMs();
      const txn = sliceTxn(key, state.current, rate, clockMs, state.wanted);
      if (txn.count === 0) {
        state.notBeforeMs = clockMs + txn.retryInMs;
        return;
      }
      const reply = await this.#store.txn(txn.compare, txn.success, txn.failure);
      if (reply.succeeded) {
        state.current = { value: txn.value, modRevision: reply.revision };
        // Counted from the request, not the reply: the tokens left the bucket in between.
        state.wallet.add(txn.count, clockMs + this.#sliceTtlMs);
        this.slicesGranted++;
        return;
      }
      state.current = reply.reads[0];
    }
  }
}
