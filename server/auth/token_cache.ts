/**
 * Tokens already verified, so a client that sends the same access token on
 * every call pays the signature check once: a bounded map keyed by the
 * token's SHA-256 (the raw token is never kept), each entry dropped when its
 * token expires, the oldest one when the map is full.
 *
 * @module
 */
import type { Principal } from "@safla/core/access";

/** Default bound on remembered tokens. */
export const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000;

interface Entry {
  principal: Principal;
  expiresAtMs: number;
}

/** A bounded map from token digest to the principal it proved, until it expires. */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;

  constructor(maxEntries = DEFAULT_TOKEN_CACHE_ENTRIES) {
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The principal of a token verified earlier and not expired at `nowMs`. */
  get(digest: string, nowMs: number): Principal | undefined {
    const entry = this.#entries.get(digest);
    if (entry === undefined) return undefined;
    if (nowMs >= entry.expiresAtMs) {
      this.#entries.delete(digest);
      return undefined;
    }
    return entry.principal;
  }

  /** Remembers a verified token until `expiresAtMs`, evicting the oldest entry when full. */
  set(digest: string, principal: Principal, expiresAtMs: number): void {
    this.#entries.delete(digest);
    if (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next().value!;
      this.#entries.delete(oldest);
    }
    this.#entries.set(digest, { principal, expiresAtMs });
  }
}
