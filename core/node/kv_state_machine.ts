/**
 * The replicated KV store (`core/state`) as the state machine of a cluster
 * node: committed commands are applied through {@link KvStore.applyEntry},
 * reads are answered from the local store.
 *
 * @module
 */
import type { GetCommand, RangeCommand } from "../state/commands.ts";
import { type CommandResult, type GetResult, KvStore, type RangeResult } from "../state/kv.ts";
import type { ByteSource } from "../state/bytes.ts";
import type { DecodeStreamOptions } from "../state/snapshot.ts";
import type { SnapshotSteps, StateMachine } from "./types.ts";

/** A read the node answers without the log (after ReadIndex, or serializably). */
export type KvQuery = GetCommand | RangeCommand;

/**
 * Adapts {@link KvStore} to {@link StateMachine}.
 *
 * @example
 * ```ts
 * import { encodeCommand } from "../state/commands.ts";
 * import { KvStateMachine } from "./kv_state_machine.ts";
 * const sm = new KvStateMachine();
 * sm.apply(encodeCommand({ op: "put", key: "a", value: "1" }), 1);
 * const r = sm.read({ op: "get", key: "a" });
 * console.assert(r.op === "get" && r.kv?.value === "1");
 * ```
 */
export class KvStateMachine implements StateMachine<KvQuery, CommandResult> {
  #store = new KvStore();

  /** The underlying store (read access for observers). */
  get store(): KvStore {
    return this.#store;
  }

  /** Applies a committed, encoded command. */
  apply(command: Uint8Array, index: number): CommandResult {
    return this.#store.applyEntry(index, command);
  }

  /** Answers a read from the current state. */
  read(query: KvQuery): GetResult | RangeResult {
    if (query.op === "get") {
      return {
        op: "get",
        ok: true,
        revision: this.#store.revision,
        kv: this.#store.get(query.key),
      };
    }
    return this.#store.range(query.prefix, query.limit, query.after);
  }

  /** Serializes the store. */
  snapshot(): Uint8Array {
    return this.#store.snapshot();
  }

  /** Serializes the store as of now, a bounded step at a time. */
  snapshotSteps(): SnapshotSteps {
    return this.#store.snapshotEncoder();
  }

  /** Replaces the store with a serialized one. */
  restore(data: Uint8Array): void {
    this.#store = KvStore.restore(data);
  }

  /** Replaces the store with a serialized one pulled from `source` (see {@link KvStore.restoreStream}). */
  restoreStream(source: ByteSource, options?: DecodeStreamOptions): void {
    this.#store = KvStore.restoreStream(source, options);
  }
}
