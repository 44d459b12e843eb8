/**
 * The bucket records of a node that has no replicated store (`serve` without
 * `--store`): the same compare-and-swap, in memory, so a lone node runs the
 * same quota code as a cluster.
 *
 * @module
 */
import type { Compare, KeyValue, TxnOp } from "@safla/core/state";
import type { StateStore, TxnReply } from "../store/types.ts";

/** An in-memory store of just what {@link QuotaAdmission} uses: `txn` over puts, gets and modRevision compares. */
export class LocalBucketStore implements Pick<StateStore, "txn"> {
  readonly #records = new Map<string, KeyValue>();
  #revision = 0;

  /** Runs one transaction atomically. */
  txn(compare: Compare[], success: TxnOp[], failure: TxnOp[]): Promise<TxnReply> {
    const holds = compare.every((c) => {
      if (c.target !== "modRevision" || c.result !== "equal") {
        throw new RangeError(`LocalBucketStore compares modRevision equality only`);
      }
      return (this.#records.get(c.key)?.modRevision ?? 0) === c.value;
    });
    const ops = holds ? success : failure;
    const reads: (KeyValue | undefined)[] = [];
    if (ops.some((op) => op.op !== "get")) this.#revision++;
    for (const op of ops) {
      if (op.op === "get") reads.push(this.#records.get(op.key));
      else if (op.op === "put") {
        const prev = this.#records.get(op.key);
        this.#records.set(op.key, {
          key: op.key,
          value: op.value,
          createRevision: prev?.createRevision ?? this.#revision,
          modRevision: this.#revision,
          version: (prev?.version ?? 0) + 1,
          leaseId: 0,
        });
      } else this.#records.delete(op.key);
    }
    return Promise.resolve({ succeeded: holds, revision: this.#revision, reads });
  }
}
