/**
 * The key space users see through the state tools (`safla__state_*`) and the
 * KV admin API, mapped into a prefix of its own in the replicated store.
 *
 * The gateway keeps its own records (sessions, services, policies, audit)
 * under `/gateway/`. A deny-list of that prefix leaks through prefix overlap
 * (`/gatewa` ranges over it) and through every way of spelling a key; a
 * mapping cannot: a user key `k` is stored as `/user/k`, a user prefix `p`
 * ranges over `/user/p`, so every key a user can name, read, watch or delete
 * starts with `/user/`, whatever bytes `k` and `p` hold. Nothing is decoded or
 * normalized on the way: the store compares raw strings.
 *
 * @module
 */
import type { KeyValue, WatchEvent } from "@safla/core/state";
import type {
  DeleteReply,
  RangeReply,
  ReadConsistency,
  StateStore,
  WatchEnd,
  WatchHandle,
  WriteReply,
} from "../store/types.ts";

/** Where user keys live in the store. */
export const USER_KEY_PREFIX = "/user/";

/** The store key of user key (or prefix) `key`. */
export function storeKeyOf(key: string): string {
  return USER_KEY_PREFIX + key;
}

/** The user key of `storeKey`; throws for a key outside the user space (a broken invariant). */
export function userKeyOf(storeKey: string): string {
  if (!storeKey.startsWith(USER_KEY_PREFIX)) {
    throw new Error(`store key "${storeKey}" is outside the user key space`);
  }
  return storeKey.slice(USER_KEY_PREFIX.length);
}

function userRecord(kv: KeyValue): KeyValue {
  return { ...kv, key: userKeyOf(kv.key) };
}

function userEvent(event: WatchEvent): WatchEvent {
  return {
    ...event,
    kv: userRecord(event.kv),
    prevKv: event.prevKv === null ? null : userRecord(event.prevKv),
  };
}

/** The KV operations the admin API and the state tools run, on user keys. */
export type UserKv = Pick<StateStore, "get" | "range" | "put" | "delete" | "watch">;

/**
 * A {@link StateStore}'s KV operations confined to the user key space: keys
 * and prefixes in are user keys, records and events out carry user keys.
 *
 * @example
 * ```ts ignore
 * const kv = new UserKeySpace(store);
 * await kv.put("app/x", "1"); // stored at /user/app/x
 * (await kv.range("/gatewa")).kvs; // only /user//gatewa..., never /gateway/...
 * ```
 */
export class UserKeySpace implements UserKv {
  readonly #store: StateStore;

  /** Confines `store`. */
  constructor(store: StateStore) {
    this.#store = store;
  }

  /** One user key. */
  async get(key: string, consistency?: ReadConsistency): Promise<KeyValue | undefined> {
    const kv = await this.#store.get(storeKeyOf(key), consistency);
    return kv === undefined ? undefined : userRecord(kv);
  }

  /** User keys under `prefix`, after the user key `after`. */
  async range(
    prefix: string,
    options: { limit?: number; consistency?: ReadConsistency; after?: string } = {},
  ): Promise<RangeReply> {
    const reply = await this.#store.range(storeKeyOf(prefix), {
      ...options,
      after: options.after === undefined ? undefined : storeKeyOf(options.after),
    });
    return { ...reply, kvs: reply.kvs.map(userRecord) };
  }

  /** Writes one user key. */
  async put(key: string, value: string, options?: { leaseId?: number }): Promise<WriteReply> {
    const reply = await this.#store.put(storeKeyOf(key), value, options);
    return { ...reply, prev: reply.prev.map(userRecord) };
  }

  /** Deletes one user key, or every user key under a user prefix. */
  async delete(
    key: string,
    options?: { prefix?: boolean; prevKv?: boolean },
  ): Promise<DeleteReply> {
    const reply = await this.#store.delete(storeKeyOf(key), options);
    return { ...reply, prev: reply.prev.map(userRecord) };
  }

  /** Watches one user key or a user prefix (patterns are not offered to users). */
  watch(
    selector: { key: string } | { prefix: string } | { pattern: string },
    onEvents: (events: WatchEvent[]) => void,
    options?: { startRevision?: number; onEnd?: (end: WatchEnd) => void },
  ): Promise<WatchHandle> {
    if ("pattern" in selector) {
      throw new RangeError("user watches select a key or a prefix, not a pattern");
    }
    const mapped = "key" in selector
      ? { key: storeKeyOf(selector.key) }
      : { prefix: storeKeyOf(selector.prefix) };
    return this.#store.watch(mapped, (events) => onEvents(events.map(userEvent)), options);
  }
}
