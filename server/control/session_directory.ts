/**
 * 2025 sessions in the replicated state store, so that any gateway node can
 * serve a session another node opened: behind a load balancer, or after the
 * first node crashed. A session is written when it is initialized and when
 * its client changes its state (one consensus round each, never per call),
 * and deleted when it ends.
 *
 * What is stored is the client's `initialize` request, plus the log level and
 * resource subscriptions it set afterwards (rewritten on each change, which
 * clients make rarely): a node that meets an unknown session id replays
 * them into a fresh session under the same id, which restores everything the
 * protocol keeps per session (version, capabilities, client info, log level,
 * subscriptions).
 *
 * @module
 */
import type { StateStore, WatchHandle } from "../store/types.ts";
import { WriteBatcher } from "./write_batcher.ts";

/** Where sessions live in the state store: one key per session id. */
export const SESSIONS_PREFIX = "/gateway/sessions/";

/** The part of a session another node needs to serve it. */
export interface SessionRecord {
  /** The `params` of the client's `initialize` request. */
  initialize: Record<string, unknown>;
  /** The level the client set with `logging/setLevel`, if it did. */
  logLevel?: string;
  /** Resource URIs the client subscribed to. */
  subscriptions?: string[];
  /** The `principalKey` of the caller that opened the session; only it may take it over. */
  owner?: string;
}

/** Saves, finds and forgets sessions. */
export interface SessionDirectory {
  save(sessionId: string, record: SessionRecord): Promise<void>;
  load(sessionId: string): Promise<SessionRecord | undefined>;
  remove(sessionId: string): Promise<void>;
  /**
   * Calls `onRemoved` with each session id removed from now on, by any node,
   * so the node that holds the session ends it too; the returned function
   * stops watching.
   */
  watchRemovals?(onRemoved: (sessionId: string) => void): Promise<() => Promise<void>>;
}

/** Session ids are UUIDs; anything else is refused before touching the store. */
const SESSION_ID = /^[0-9a-f-]{36}$/;

/** A {@link SessionDirectory} over a {@link StateStore}. */
export class StoreSessionDirectory implements SessionDirectory {
  #store: StateStore;
  /** Saves and removes share store transactions when they come in bursts. */
  readonly writes: WriteBatcher;

  /** Keeps sessions in `store`. */
  constructor(store: StateStore) {
    this.#store = store;
    this.writes = new WriteBatcher(store);
  }

  /** Writes the session's record. */
  async save(sessionId: string, record: SessionRecord): Promise<void> {
    if (!SESSION_ID.test(sessionId)) throw new RangeError(`not a session id: ${sessionId}`);
    await this.writes.put(`${SESSIONS_PREFIX}${sessionId}`, JSON.stringify(record));
  }

  /** Reads a session's record (linearizable: a session saved anywhere is found). */
  async load(sessionId: string): Promise<SessionRecord | undefined> {
    if (!SESSION_ID.test(sessionId)) return undefined;
    const kv = await this.#store.get(`${SESSIONS_PREFIX}${sessionId}`, "linearizable");
    if (kv === undefined) return undefined;
    const record = JSON.parse(kv.value) as SessionRecord;
    if (typeof record.initialize !== "object" || record.initialize === null) {
      throw new Error(`session ${sessionId}: stored record has no initialize params`);
    }
    if (record.logLevel !== undefined && typeof record.logLevel !== "string") {
      throw new Error(`session ${sessionId}: stored log level is not a string`);
    }
    if (
      record.subscriptions !== undefined &&
      !(Array.isArray(record.subscriptions) &&
        record.subscriptions.every((uri) => typeof uri === "string"))
    ) {
      throw new Error(`session ${sessionId}: stored subscriptions are not a list of URIs`);
    }
    if (record.owner !== undefined && typeof record.owner !== "string") {
      throw new Error(`session ${sessionId}: stored owner is not a string`);
    }
    return record;
  }

  /** Deletes a session's record. */
  async remove(sessionId: string): Promise<void> {
    if (!SESSION_ID.test(sessionId)) return;
    await this.writes.delete(`${SESSIONS_PREFIX}${sessionId}`);
  }

  /** Follows deletions of session records (a `DELETE /mcp` or expiry on any node). */
  async watchRemovals(onRemoved: (sessionId: string) => void): Promise<() => Promise<void>> {
    let handle: WatchHandle | undefined = await this.#store.watch(
      { prefix: SESSIONS_PREFIX },
      (events) => {
        for (const event of events) {
          if (event.type === "delete") onRemoved(event.kv.key.slice(SESSIONS_PREFIX.length));
        }
      },
    );
    return async () => {
      await handle?.cancel();
      handle = undefined;
    };
  }
}
