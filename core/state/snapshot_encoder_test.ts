import assert from "node:assert/strict";
import fc from "fast-check";
import { arbCommands } from "./arbitraries_test.ts";
import { KvStore } from "./kv.ts";
import type { SnapshotEncoder } from "./snapshot.ts";

function applyAll(store: KvStore, commands: readonly Parameters<KvStore["apply"]>[1][]): void {
  for (const command of commands) store.apply(store.appliedIndex + 1, command);
}

Deno.test("SnapshotEncoder", async (t) => {
  await t.step(
    "gives the bytes of snapshot() at its creation, whatever is applied meanwhile",
    () => {
      fc.assert(
        fc.property(
          arbCommands(40),
          arbCommands(40),
          fc.integer({ min: 1, max: 7 }),
          (before, meanwhile, itemsPerStep) => {
            const store = new KvStore({ historyLimitEvents: 16 });
            applyAll(store, before);
            const expected = store.snapshot();
            const encoder = store.snapshotEncoder();
            let bytes: Uint8Array | undefined;
            for (let i = 0; i < meanwhile.length && bytes === undefined; i++) {
              applyAll(store, [meanwhile[i]]);
              bytes = encoder.step(itemsPerStep);
            }
            for (let steps = 0; bytes === undefined; steps++) {
              assert.ok(steps < 1_000, "the encoder did not finish");
              bytes = encoder.step(itemsPerStep);
            }
            assert.deepEqual(bytes, expected);
            assert.ok(encoder.done);
            assert.equal(encoder.step(1), bytes);
            assert.equal(KvStore.restore(bytes).appliedIndex, before.length);
          },
        ),
        { numRuns: 200 },
      );
    },
  );

  await t.step("encodes an empty store in one step, and refuses a step of no items", () => {
    const store = new KvStore();
    const encoder = store.snapshotEncoder();
    assert.throws(() => encoder.step(0), RangeError);
    assert.deepEqual(encoder.step(1), store.snapshot());
  });

  await t.step("takes one step per bounded batch of records and events", () => {
    const store = new KvStore();
    applyAll(
      store,
      Array.from({ length: 10 }, (_, i) => ({ op: "put", key: `k${i}`, value: "v" })),
    );
    // 10 records, no leases, 10 events: 20 items.
    const encoder: SnapshotEncoder = store.snapshotEncoder();
    assert.equal(encoder.step(7), undefined);
    assert.equal(encoder.step(7), undefined);
    assert.equal(encoder.done, false);
    assert.deepEqual(encoder.step(7), store.snapshot());
  });
});
