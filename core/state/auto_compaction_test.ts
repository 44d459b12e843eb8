import assert from "node:assert/strict";
import { AutoCompactionConfigError, AutoCompactor } from "./auto_compaction.ts";
import { decodeCommand, encodeCommand } from "./commands.ts";
import { KvStore } from "./kv.ts";
import { CompactedRevisionError, WatchHub } from "./watch.ts";

Deno.test("AutoCompactor revision mode: keeps the last `retention` revisions, paced", () => {
  const c = new AutoCompactor({ mode: "revision", retention: 100, intervalMs: 1000 });
  assert.equal(c.decide(0, 100, 0), undefined, "nothing older than the retention yet");
  assert.deepEqual(c.decide(0, 150, 0), { op: "compact", revision: 50 });
  assert.equal(c.decide(999, 400, 50), undefined, "paced: one compaction per interval");
  assert.deepEqual(c.decide(1000, 400, 50), { op: "compact", revision: 300 });
  assert.equal(c.decide(5000, 400, 300), undefined, "already compacted that far");
});

Deno.test("AutoCompactor periodic mode: compacts to the revision seen `retention` ms ago", () => {
  const c = new AutoCompactor({ mode: "periodic", retention: 1000 });
  assert.equal(c.intervalMs, 100);
  assert.equal(c.decide(0, 10, 0), undefined);
  assert.equal(c.decide(500, 20, 0), undefined);
  assert.equal(c.decide(999, 30, 0), undefined, "no sample is a whole retention old yet");
  assert.deepEqual(c.decide(1000, 40, 0), { op: "compact", revision: 10 });
  assert.equal(c.decide(1050, 45, 10), undefined, "paced");
  assert.deepEqual(c.decide(1500, 50, 10), { op: "compact", revision: 20 });
  // A long quiet spell: the newest sample a retention old wins, older ones are dropped.
  assert.deepEqual(c.decide(10_000, 50, 20), { op: "compact", revision: 50 });
});

Deno.test("AutoCompactor periodic mode holds a bounded number of samples", () => {
  const c = new AutoCompactor({ mode: "periodic", retention: 1000 });
  let compactRevision = 0;
  for (let t = 0; t < 100_000; t += 7) {
    compactRevision = c.decide(t, t + 1, compactRevision)?.revision ?? compactRevision;
  }
  assert.ok(compactRevision > 98_000 && compactRevision <= 99_000, `at ${compactRevision}`);
  // Reaching into the samples through the next decision: a reset forgets them.
  c.reset();
  assert.equal(c.decide(100_000, 100_001, compactRevision), undefined);
});

Deno.test("AutoCompactor: off never compacts; bad settings are refused by name", () => {
  assert.equal(new AutoCompactor({ mode: "off", retention: 0 }).decide(1e9, 1e6, 0), undefined);
  assert.throws(() => new AutoCompactor({ mode: "revision", retention: 0 }), /retention/);
  assert.throws(
    () => new AutoCompactor({ mode: "hourly" as "off", retention: 1 }),
    AutoCompactionConfigError,
  );
  assert.throws(
    () => new AutoCompactor({ mode: "revision", retention: 5, intervalMs: -1 }),
    /intervalMs/,
  );
});

Deno.test("compact command: drops the history up to a revision, keeps the newest, is idempotent", () => {
  const store = new KvStore();
  for (let i = 1; i <= 10; i++) store.apply(i, { op: "put", key: `k${i % 3}`, value: `${i}` });
  assert.equal(store.history.size, 10);
  const bytes = encodeCommand({ op: "compact", revision: 6 });
  assert.deepEqual(decodeCommand(bytes), { op: "compact", revision: 6 });
  assert.deepEqual(store.applyEntry(11, bytes), {
    op: "compact",
    ok: true,
    revision: 10,
    compactRevision: 6,
  });
  assert.equal(store.history.size, 4);
  const hub = new WatchHub();
  assert.throws(() => hub.watch(store, { prefix: "" }, 6), CompactedRevisionError);
  hub.watch(store, { prefix: "" }, 7);
  assert.equal(store.apply(12, { op: "compact", revision: 3 }).ok, true, "already compacted");
  assert.equal(store.compactRevision, 6);
  const all = store.apply(13, { op: "compact", revision: 10 });
  assert.ok(all.ok && all.op === "compact" && all.compactRevision === 9, "newest kept");
  assert.equal(store.history.size, 1);
  const future = store.apply(14, { op: "compact", revision: 11 });
  assert.ok(!future.ok && future.code === "futureRevision");
  store.assertInvariants();
  const restored = KvStore.restore(store.snapshot());
  assert.equal(restored.compactRevision, 9);
  assert.deepEqual(restored.snapshot(), store.snapshot());
});
