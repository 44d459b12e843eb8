/**
 * The primitives of peer authentication with a shared cluster secret
 * (HMAC-SHA-256): keys, nonces, proofs over length-prefixed parts, and the
 * field packing of handshake payloads. The exchange itself is in
 * `handshake.ts`.
 *
 * @module
 */

const encoder = new TextEncoder();

/** A key derived from the cluster secret. */
export async function importSecret(secret: string): Promise<CryptoKey> {
  if (secret.length < 16) {
    throw new RangeError("cluster secret must be at least 16 characters long");
  }
  return await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/**
 * A value derived from the cluster secret for one purpose, named by `label`
 * (HMAC-SHA-256 of the label), so that no two uses share a key.
 */
export async function deriveFromSecret(secret: string, label: string): Promise<Uint8Array> {
  const mac = await crypto.subtle.sign("HMAC", await importSecret(secret), encoder.encode(label));
  return new Uint8Array(mac);
}

/** Fresh random nonce. */
export function nonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

function join(parts: ReadonlyArray<string | Uint8Array>): Uint8Array<ArrayBuffer> {
  const encoded = parts.map((p) => (typeof p === "string" ? encoder.encode(p) : p));
  const out = new Uint8Array(encoded.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of encoded) {
    view.setUint32(at, p.length, true);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** Proof that the holder knows the secret, bound to a role and the given parts. */
export async function prove(
  key: CryptoKey,
  parts: ReadonlyArray<string | Uint8Array>,
): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, join(parts)));
}

/** Verifies a proof in constant time (WebCrypto's verify). */
export async function verify(
  key: CryptoKey,
  parts: ReadonlyArray<string | Uint8Array>,
  proof: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  return await crypto.subtle.verify("HMAC", key, proof, join(parts));
}

/** Joins byte fields with length prefixes (for handshake payloads). */
export function packFields(fields: ReadonlyArray<string | Uint8Array>): Uint8Array {
  return join(fields);
}

/**
 * Splits a payload made by {@link packFields}; throws on malformed input.
 * With `exact` false, bytes after the `count` fields are allowed (to read a
 * leading version field before knowing the rest of the layout).
 */
export function unpackFields(
  bytes: Uint8Array,
  count: number,
  exact = true,
): Uint8Array<ArrayBuffer>[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array<ArrayBuffer>[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) throw new RangeError("handshake payload is truncated");
    const length = view.getUint32(at, true);
    if (at + 4 + length > bytes.length) throw new RangeError("handshake payload is truncated");
    out.push(bytes.slice(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (exact && at !== bytes.length) throw new RangeError("handshake payload has trailing bytes");
  return out;
}
