/**
 * Calls to the admin API from tests, benches and tools: the per-cluster admin
 * token in `Authorization`, and `application/json` on a body that names no
 * type (the admin API refuses other types with 415).
 *
 * @module
 */
import { deriveAdminToken } from "../admin/admin_token.ts";

/** `init` with the admin token of the cluster whose secret is `secret`. */
export async function withAdminToken(secret: string, init: RequestInit = {}): Promise<RequestInit> {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) {
    headers.set("authorization", `Bearer ${await deriveAdminToken(secret)}`);
  }
  if (init.body !== undefined && init.body !== null && !headers.has("content-type")) {
    headers.set("content-type", "application/json");
  }
  return { ...init, headers };
}

/**
 * A `fetch` that sends the admin token of the cluster whose secret is `secret`.
 *
 * @example
 * ```ts ignore
 * const adminFetch = adminFetcher(SECRET);
 * const status = await (await adminFetch(`${url}/admin/status`)).json();
 * ```
 */
export function adminFetcher(
  secret: string,
): (input: string | URL, init?: RequestInit) => Promise<Response> {
  return async (input, init) => fetch(input, await withAdminToken(secret, init));
}
