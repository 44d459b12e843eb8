/**
 * Pagination of the gateway's MCP list methods (`tools/list`,
 * `prompts/list`, `resources/list`, `resources/templates/list`), with the
 * spec's `cursor` / `nextCursor`.
 *
 * A list no longer than one page goes out whole, in the gateway's order,
 * without a cursor: what every client gets from a small gateway. A longer
 * one goes out in pages ordered by item key (a tool's or prompt's name, a
 * resource's URI, a template's URI template and name), and the cursor names
 * the last key sent: the next page starts after it in whatever the list is
 * by then. So a client that follows `nextCursor` gets every item that stayed
 * listed exactly once; when the list changes between pages (the gateway
 * sends `list_changed`), items removed meanwhile are not sent, items added
 * behind the cursor are not either (the notification tells the client to
 * list again), and nothing is sent twice. A cursor is opaque to clients;
 * one the gateway did not make, or made for another list, is refused with
 * JSON-RPC -32602 (invalid params).
 *
 * @module
 */
import { ProtocolError } from "@modelcontextprotocol/server";

/** Which list a page belongs to. */
export type ListMethodKind = "tools" | "prompts" | "resources" | "resourceTemplates";

/** JSON-RPC invalid params. */
const INVALID_PARAMS = -32602;
/** Longest cursor accepted, in characters (a key is at most a few KiB). */
const MAX_CURSOR_CHARS = 16 * 1024;
const CURSOR_VERSION = 1;

/** One page: the items, and the cursor of the next page when there is one. */
export interface ListPage<T> {
  items: T[];
  nextCursor?: string;
}

/** The key a list of `kind` is ordered and resumed by. */
export function itemKey(kind: ListMethodKind, item: Record<string, unknown>): string {
  switch (kind) {
    case "tools":
    case "prompts":
      return String(item.name);
    case "resources":
      return String(item.uri);
    case "resourceTemplates":
      // Two services may offer the same template; their names tell them apart.
      return `${item.uriTemplate}\u0000${item.name ?? ""}`;
  }
}

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): string {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return new TextDecoder("utf-8", { fatal: true }).decode(
    Uint8Array.from(binary, (c) => c.charCodeAt(0)),
  );
}

/** The cursor that resumes a list of `kind` after `key`. */
export function encodeCursor(kind: ListMethodKind, key: string): string {
  return toBase64Url(JSON.stringify({ v: CURSOR_VERSION, k: kind, a: key }));
}

/** The key a cursor resumes after; throws -32602 for a cursor that is not one of ours for `kind`. */
export function decodeCursor(kind: ListMethodKind, cursor: unknown): string {
  const invalid = (why: string) =>
    new ProtocolError(INVALID_PARAMS, `invalid cursor for ${kind}: ${why}`);
  if (typeof cursor !== "string" || cursor.length === 0) throw invalid("not a non-empty string");
  if (cursor.length > MAX_CURSOR_CHARS) throw invalid("too long");
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromBase64Url(cursor));
  } catch {
    throw invalid("not a cursor this gateway made");
  }
  const c = parsed as Record<string, unknown> | null;
  if (typeof c !== "object" || c === null || c.v !== CURSOR_VERSION || typeof c.a !== "string") {
    throw invalid("not a cursor this gateway made");
  }
  if (c.k !== kind) throw invalid(`it belongs to ${String(c.k)}`);
  return c.a;
}

interface Ordered<T> {
  items: T[];
  keys: string[];
}

/** Each list's items in key order, computed once per list (lists are replaced, not mutated). */
const orderedLists = new WeakMap<readonly unknown[], Ordered<unknown>>();

function ordered<T extends Record<string, unknown>>(
  kind: ListMethodKind,
  list: readonly T[],
): Ordered<T> {
  const cached = orderedLists.get(list);
  if (cached) return cached as Ordered<T>;
  const pairs = list.map((item) => ({ item, key: itemKey(kind, item) }))
    .sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  const result = { items: pairs.map((p) => p.item), keys: pairs.map((p) => p.key) };
  orderedLists.set(list, result);
  return result;
}

/** First index whose key is greater than `key`. */
function upperBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The page of `list` that `cursor` asks for, at most `pageSize` items.
 *
 * @example
 * ```ts
 * import { listPage } from "./list_pages.ts";
 * const tools = [{ name: "b" }, { name: "a" }, { name: "c" }];
 * const first = listPage("tools", tools, undefined, 2);
 * console.assert(first.items.map((t) => t.name).join() === "a,b");
 * const second = listPage("tools", tools, first.nextCursor, 2);
 * console.assert(second.items.map((t) => t.name).join() === "c" && !second.nextCursor);
 * ```
 */
export function listPage<T extends Record<string, unknown>>(
  kind: ListMethodKind,
  list: readonly T[],
  cursor: unknown,
  pageSize: number,
): ListPage<T> {
  if (cursor === undefined && list.length <= pageSize) return { items: list as T[] };
  const { items, keys } = ordered(kind, list);
  const start = cursor === undefined ? 0 : upperBound(keys, decodeCursor(kind, cursor));
  const end = Math.min(start + pageSize, items.length);
  const page: ListPage<T> = { items: items.slice(start, end) };
  if (end < items.length) page.nextCursor = encodeCursor(kind, keys[end - 1]);
  return page;
}
