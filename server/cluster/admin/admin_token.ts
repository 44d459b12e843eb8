/**
 * The per-cluster admin token: the credential of the admin API until inbound
 * authentication is configured. It is derived from the cluster secret, so
 * every node of a cluster accepts the same token without a round of
 * coordination, and knowing it reveals nothing about the secret (HMAC).
 * Each node writes it to `<dataDir>/admin-token` (mode 0600) so an operator on
 * the machine can read it; rotating the secret rotates the token.
 *
 * @module
 */
import { deriveFromSecret } from "@safla/transports/peer";

/** The file in a node's data dir that holds the admin token. */
export const ADMIN_TOKEN_FILE = "admin-token";

/**
 * The admin token of the cluster whose secret is `secret` (base64url, 43 characters).
 *
 * @example
 * ```ts ignore
 * const headers = { authorization: `Bearer ${await deriveAdminToken(secret)}` };
 * ```
 */
export async function deriveAdminToken(secret: string): Promise<string> {
  const mac = await deriveFromSecret(secret, "safla-admin-token-v1");
  return btoa(String.fromCharCode(...mac)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/**
 * Writes `token` to `<dataDir>/admin-token`, readable by the node's user only.
 * The mode is set again after writing: an existing file keeps its old mode on
 * open, and a token must never sit world-readable.
 */
export async function writeAdminTokenFile(dataDir: string, token: string): Promise<string> {
  const path = `${dataDir}/${ADMIN_TOKEN_FILE}`;
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.writeTextFile(path, `${token}\n`, { mode: 0o600 });
  await Deno.chmod(path, 0o600);
  return path;
}

/** Whether `a` and `b` are equal, in time that does not depend on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const encoder = new TextEncoder();
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % Math.max(y.length, 1)] ?? 0);
  return diff === 0;
}
