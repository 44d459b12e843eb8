import assert from "node:assert/strict";
import type { StateStore, TxnReply } from "../store/types.ts";
import { WriteBacklogError, WriteBatcher } from "./write_batcher.ts";

function fakeStore(delayMs: number, fail = false) {
  const batches: unknown[][] = [];
  const store = {
    async txn(_c: unknown[], success: unknown[]): Promise<TxnReply> {
      batches.push(success);
      await new Promise((r) => setTimeout(r, delayMs));
      if (fail) throw new Error("no quorum");
      return { succeeded: true, revision: batches.length, reads: [] };
    },
  } as unknown as StateStore;
  return { store, batches };
}

Deno.test("writes that arrive while a batch is in flight share the next transaction", async () => {
  const { store, batches } = fakeStore(5);
  const writes = new WriteBatcher(store, { maxOps: 128 });
  await Promise.all(Array.from({ length: 1_000 }, (_, i) => writes.put(`k${i}`, "v")));
  assert.equal(batches.flat().length, 1_000);
  // The first write goes alone; the rest queue behind it, 128 at a time.
  assert.equal(batches.length, 1 + Math.ceil(999 / 128));
});

Deno.test("two writes of one key in a batch collapse into the later; both callers settle", async () => {
  const { store, batches } = fakeStore(5);
  const writes = new WriteBatcher(store);
  const first = writes.put("a", "0");
  const [x, y] = [writes.put("b", "1"), writes.delete("b")];
  await Promise.all([first, x, y]);
  assert.deepEqual(batches[1], [{ op: "delete", key: "b" }]);
});

Deno.test("a failed batch rejects its writers; a full queue refuses at once", async () => {
  const failing = new WriteBatcher(fakeStore(1, true).store);
  await assert.rejects(failing.put("a", "1"), /no quorum/);
  const { store } = fakeStore(50);
  const small = new WriteBatcher(store, { maxQueued: 2 });
  const inFlight = small.put("a", "1");
  const queued = [small.put("b", "1"), small.put("c", "1")];
  await assert.rejects(small.put("d", "1"), WriteBacklogError);
  await Promise.all([inFlight, ...queued]);
});
