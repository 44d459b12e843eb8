/**
 * API keys for small deployments: the config holds only each key's SHA-256,
 * with the subject and scopes it stands for. Revoking a key is removing it
 * from the config.
 *
 * Why SHA-256 and not a slow password hash: keys are drawn by
 * {@link generateApiKey} with 256 bits of entropy, so the slowness that
 * protects a human's password buys nothing (no one can enumerate 2^256
 * candidates at any speed), while a slow hash on every request would cost
 * milliseconds of CPU per call and hand anyone who can send a header a cheap
 * way to burn the node's CPU. Presented keys shorter than
 * {@link MIN_API_KEY_LENGTH} are refused outright so that no guessable key
 * can be configured through the helper's path. Keys contain no `.`: a bearer
 * token with dots is taken for a JWT.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type Principal } from "@safla/core/access";
import type { ApiKeyEntry } from "./auth_config.ts";

/** Keys shorter than this are not keys we issued (ours have 43 characters). */
export const MIN_API_KEY_LENGTH = 32;

/** Prefix of generated keys, so a leaked one is recognisable in logs and scanners. */
export const API_KEY_PREFIX = "safla_";

/** SHA-256 of `text` (UTF-8). */
export function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** A new random key (256 bits, base64url) with its config hash. */
export function generateApiKey(): { key: string; hash: string } {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  const key = API_KEY_PREFIX + btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
  return { key, hash: hashApiKey(key) };
}

/** The config form of `key`'s hash: `sha256:<hex>`. */
export function hashApiKey(key: string): string {
  return `sha256:${sha256(key).toString("hex")}`;
}

/** The configured keys, each compared in constant time. */
export class ApiKeys {
  readonly #entries: { hash: Buffer; principal: Principal }[];

  constructor(entries: readonly ApiKeyEntry[]) {
    this.#entries = entries.map((e) => ({
      hash: Buffer.from(e.hashHex, "hex"),
      principal: Object.freeze({
        subject: e.subject,
        scopes: Object.freeze([...e.scopes]),
        claims: Object.freeze({}),
        source: "apiKey" as const,
      }),
    }));
  }

  get size(): number {
    return this.#entries.length;
  }

  /**
   * The principal of the key whose SHA-256 is `digest`, or undefined. Every
   * entry is compared, so the time taken does not tell which one matched.
   */
  match(digest: Buffer, keyLength: number): Principal | undefined {
    let found: Principal | undefined;
    for (const entry of this.#entries) {
      if (constantTimeEqual(entry.hash, digest)) found = entry.principal;
    }
    return keyLength >= MIN_API_KEY_LENGTH ? found : undefined;
  }
}

/**
 * Whether two 32-byte digests are equal, in time that does not depend on
 * where they differ (`node:crypto`'s timingSafeEqual costs ~4 µs per call here).
 */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i] ^ b[i];
  return difference === 0;
}
