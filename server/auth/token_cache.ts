/**
 * Tokens already verified, so a client that sends the same access token on
 * every call pays the signature check once. Entries are keyed by the token
 * itself: hashing it instead costs more per call in Deno's `node:crypto`
 * (~10-15 µs) than the whole budget authentication has on the hot path, and
 * an exact string match cannot collide. Each entry leaves when its token
 * expires; the oldest leave when the count or the bytes held reach their
 * bound.
 *
 * @module
 */
import type { Principal } from "@safla/core/access";

/** Default bound on remembered tokens. */
export const DEFAULT_TOKEN_CACHE_ENTRIES = 10_000;
/** Default bound on the characters of the remembered tokens. */
export const DEFAULT_TOKEN_CACHE_CHARS = 16 * 1024 * 1024;

interface Entry {
  principal: Principal;
  expiresAtMs: number;
}

/** A bounded map from token to the principal it proved, until it expires. */
export class VerifiedTokenCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #maxChars: number;
  #chars = 0;

  constructor(maxEntries = DEFAULT_TOKEN_CACHE_ENTRIES, maxChars = DEFAULT_TOKEN_CACHE_CHARS) {
    this.#maxEntries = maxEntries;
    this.#maxChars = maxChars;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The principal of a token verified earlier and not expired at `nowMs`. */
  get(token: string, nowMs: number): Principal | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    if (nowMs >= entry.expiresAtMs) {
      this.#delete(token);
      return undefined;
    }
    return entry.principal;
  }

  /** Remembers a verified token until `expiresAtMs`, evicting the oldest entries when full. */
  set(token: string, principal: Principal, expiresAtMs: number): void {
    if (token.length > this.#maxChars) return;
    this.#delete(token);
    while (
      this.#entries.size >= this.#maxEntries || this.#chars + token.length > this.#maxChars
    ) {
      this.#delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(token, { principal, expiresAtMs });
    this.#chars += token.length;
  }

  #delete(token: string): void {
    if (this.#entries.delete(token)) this.#chars -= token.length;
  }
}
