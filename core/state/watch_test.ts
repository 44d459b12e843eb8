import assert from "node:assert/strict";
import fc from "fast-check";
import type { Command, PutCommand } from "./commands.ts";
import { KvStore, type KvStoreOptions } from "./kv.ts";
import type { WatchEvent } from "./types.ts";
import {
  collectEvents,
  CompactedRevisionError,
  compileWatchFilter,
  estimatedEventBytes,
  EventHistory,
  globMatch,
  type WatchFilter,
  WatchHub,
  WatchRequestError,
} from "./watch.ts";
import { arbCommands, arbKey } from "./arbitraries_test.ts";

function storeWith(options: KvStoreOptions, ...cmds: Command[]): KvStore {
  const store = new KvStore(options);
  cmds.forEach((cmd, i) => store.apply(i + 1, cmd));
  return store;
}

const put = (key: string, value = ""): PutCommand => ({ op: "put", key, value });
const describe = (events: readonly WatchEvent[]) =>
  events.map((e) => `${e.revision}:${e.type}:${e.kv.key}`);

Deno.test("glob patterns", async (t) => {
  const table: Array<[string, string, boolean]> = [
    ["*", "", true],
    ["*", "anything/at/all", true],
    ["nodes:*", "nodes:a", true],
    ["nodes:*", "nodes:", true],
    ["nodes:*", "node", false],
    ["*:load", "nodes:a:load", true],
    ["*:load", "nodes:a:loads", false],
    ["a*b*c", "aXXbYYc", true],
    ["a*b*c", "aXXcYYb", false],
    ["a**c", "ac", true],
    ["exact", "exact", true],
    ["exact", "exactly", false],
    ["s/*/health", "s/x/y/health", true],
  ];
  for (const [pattern, key, expected] of table) {
    await t.step(`${JSON.stringify(pattern)} vs ${JSON.stringify(key)}`, () => {
      assert.equal(globMatch(pattern, key), expected);
    });
  }
  await t.step("agrees with an equivalent regular expression", () => {
    const arbGlob = fc.string({ unit: fc.constantFrom("a", "b", "*"), maxLength: 6 });
    fc.assert(
      fc.property(arbGlob, fc.string({ unit: fc.constantFrom("a", "b"), maxLength: 8 }), (p, k) => {
        const regex = new RegExp(`^${p.replaceAll("*", ".*")}$`);
        assert.equal(globMatch(p, k), regex.test(k));
      }),
      { numRuns: 500 },
    );
  });
});

Deno.test("watch filters", async (t) => {
  const table: Array<[WatchFilter, string, boolean]> = [
    [{ key: "a" }, "a", true],
    [{ key: "a" }, "ab", false],
    [{ prefix: "a" }, "ab", true],
    [{ prefix: "" }, "zz", true],
    [{ prefix: "b" }, "ab", false],
    [{ pattern: "a*" }, "ab", true],
    [{ pattern: "a" }, "ab", false],
  ];
  for (const [filter, key, expected] of table) {
    await t.step(`${JSON.stringify(filter)} vs ${key}`, () => {
      assert.equal(compileWatchFilter(filter)(key), expected);
    });
  }
  await t.step("malformed filters are refused", () => {
    const bad: unknown[] = [null, {}, { key: "" }, { key: 1 }, { prefix: 2 }, { pattern: "" }, {
      key: "a",
      prefix: "a",
    }];
    for (const filter of bad) {
      assert.throws(() => compileWatchFilter(filter as WatchFilter), WatchRequestError);
    }
  });
});

Deno.test("event history", async (t) => {
  await t.step("drops whole old revisions beyond the bound, keeping the newest", () => {
    const store = storeWith(
      { historyLimitEvents: 3 },
      put("a"),
      put("b"),
      { op: "txn", compare: [], success: [put("c"), put("d")], failure: [] },
      put("e"),
    );
    assert.equal(store.compactRevision, 2);
    assert.deepEqual(describe((store.history as EventHistory).toArray()), [
      "3:put:c",
      "3:put:d",
      "4:put:e",
    ]);
    store.apply(5, { op: "delete", key: "", prefix: true });
    assert.equal(store.history.size, 5, "one revision larger than the bound is kept whole");
    assert.equal(store.compactRevision, 4);
  });
  await t.step("also drops old revisions beyond the byte bound", () => {
    const store = storeWith({ historyLimitBytes: 1000 }, put("a", "x".repeat(300)), put("b", "y"));
    assert.equal(store.compactRevision, 0);
    const history = store.history as EventHistory;
    assert.equal(history.sizeBytes, estimatedEventBytes(history.toArray()[0]) + 64 + 4);
    store.apply(3, put("c", "z".repeat(300)));
    assert.equal(store.compactRevision, 1, "the 600-byte event made room for the newest");
    assert.ok(history.sizeBytes <= 1000);
    const restored = KvStore.restore(store.snapshot());
    assert.equal((restored.history as EventHistory).limitBytes, 1000);
    assert.equal((restored.history as EventHistory).sizeBytes, history.sizeBytes);
  });
  await t.step("refuses out-of-order appends", () => {
    const history = new EventHistory({ limitEvents: 10, limitBytes: 1000 });
    const kv = { key: "a", value: "", createRevision: 2, modRevision: 2, version: 1, leaseId: 0 };
    history.append([{ type: "put", revision: 2, kv, prevKv: null }]);
    assert.throws(
      () => history.append([{ type: "put", revision: 2, kv, prevKv: null }]),
      RangeError,
    );
    assert.throws(
      () =>
        history.append([{ type: "put", revision: 3, kv, prevKv: null }, {
          type: "put",
          revision: 4,
          kv,
          prevKv: null,
        }]),
      RangeError,
    );
    assert.throws(() => new EventHistory({ limitEvents: 0, limitBytes: 1 }), RangeError);
    assert.throws(() => new EventHistory({ limitEvents: 1, limitBytes: 0.5 }), RangeError);
  });
});

Deno.test("collectEvents", async (t) => {
  const store = storeWith(
    { historyLimitEvents: 100 },
    put("a", "1"),
    put("b", "1"),
    { op: "txn", compare: [], success: [put("a", "2"), put("b", "2")], failure: [] },
    { op: "delete", key: "a" },
  );
  await t.step("delivers put and delete events with their previous records", () => {
    const batch = collectEvents(store, compileWatchFilter({ key: "a" }), 1, 100);
    assert.deepEqual(describe(batch.events), ["1:put:a", "3:put:a", "4:delete:a"]);
    assert.equal(batch.nextRevision, 5);
    assert.equal(batch.events[2].prevKv?.value, "2");
    assert.equal(batch.events[0].prevKv, null);
  });
  await t.step("resumes from any revision", () => {
    assert.deepEqual(describe(collectEvents(store, () => true, 3, 100).events), [
      "3:put:a",
      "3:put:b",
      "4:delete:a",
    ]);
    assert.deepEqual(collectEvents(store, () => true, 9, 100), { events: [], nextRevision: 9 });
  });
  await t.step("stops at a revision boundary, never splitting one", () => {
    const batch = collectEvents(store, () => true, 1, 3);
    assert.deepEqual(describe(batch.events), ["1:put:a", "2:put:b", "3:put:a", "3:put:b"]);
    assert.equal(batch.nextRevision, 4);
  });
  await t.step("a compacted start revision is a typed error", () => {
    const small = storeWith({ historyLimitEvents: 1 }, put("a"), put("b"), put("c"));
    assert.throws(() => collectEvents(small, () => true, 2, 10), (error: unknown) => {
      assert.ok(error instanceof CompactedRevisionError);
      assert.equal(error.requestedRevision, 2);
      assert.equal(error.compactRevision, 2);
      assert.match(error.message, /compacted/);
      return true;
    });
    assert.deepEqual(describe(collectEvents(small, () => true, 3, 10).events), ["3:put:c"]);
  });
});

Deno.test("watch hub", async (t) => {
  await t.step("without a start revision a watcher sees only later writes", () => {
    const store = storeWith({}, put("a"));
    const hub = new WatchHub();
    const id = hub.watch(store, { prefix: "" });
    assert.equal(hub.nextRevision(id), 2);
    assert.deepEqual(hub.poll(store), []);
    store.apply(2, put("b"));
    const deliveries = hub.poll(store);
    assert.equal(deliveries.length, 1);
    assert.ok(deliveries[0].kind === "events");
    assert.deepEqual(describe(deliveries[0].events), ["2:put:b"]);
    assert.deepEqual(hub.poll(store), [], "nothing is delivered twice");
  });
  await t.step("fans out to matching watchers only, in watch-id order", () => {
    const store = new KvStore();
    const hub = new WatchHub();
    const a = hub.watch(store, { key: "x" });
    const b = hub.watch(store, { pattern: "y*" });
    const c = hub.watch(store, { prefix: "" });
    store.apply(1, put("x"));
    store.apply(2, put("yy"));
    const got = hub.poll(store).map((
      d,
    ) => [d.watchId, d.kind === "events" ? describe(d.events) : []]);
    assert.deepEqual(got, [[a, ["1:put:x"]], [b, ["2:put:yy"]], [c, ["1:put:x", "2:put:yy"]]]);
  });
  await t.step("a watcher that falls behind the window is cancelled, never skipped", () => {
    const store = storeWith({ historyLimitEvents: 2 });
    const hub = new WatchHub();
    const id = hub.watch(store, { prefix: "" });
    [put("a"), put("b"), put("c")].forEach((cmd, i) => store.apply(i + 1, cmd));
    const [delivery] = hub.poll(store);
    assert.ok(delivery.kind === "canceled");
    assert.equal(delivery.watchId, id);
    assert.equal(delivery.error.compactRevision, 1);
    assert.equal(hub.size, 0);
    assert.throws(() => hub.watch(store, { prefix: "" }, 1), CompactedRevisionError);
  });
  await t.step("cancel and bounds", () => {
    const store = new KvStore();
    const hub = new WatchHub({ maxWatchers: 1 });
    const id = hub.watch(store, { key: "a" });
    assert.throws(() => hub.watch(store, { key: "b" }), WatchRequestError);
    assert.equal(hub.cancel(id), true);
    assert.equal(hub.cancel(id), false);
    assert.equal(hub.nextRevision(id), undefined);
    assert.throws(() => hub.watch(store, { key: "b" }, 0), WatchRequestError);
  });
  await t.step("a client resumes on another node from its next revision, losing nothing", () => {
    const nodeA = new KvStore();
    const nodeB = new KvStore();
    const log: Command[] = [put("s/a", "1"), put("s/b", "1"), put("s/a", "2"), put("x"), {
      op: "delete",
      key: "s/",
      prefix: true,
    }];
    const hubA = new WatchHub();
    const watchA = hubA.watch(nodeA, { prefix: "s/" }, 1);
    log.slice(0, 3).forEach((cmd, i) => nodeA.apply(i + 1, cmd));
    const [first] = hubA.poll(nodeA);
    assert.ok(first.kind === "events");
    // Node A fails; node B has applied the whole log; the client moves there.
    log.forEach((cmd, i) => nodeB.apply(i + 1, cmd));
    const hubB = new WatchHub();
    hubB.watch(nodeB, { prefix: "s/" }, first.nextRevision);
    const [rest] = hubB.poll(nodeB);
    assert.ok(rest.kind === "events");
    assert.deepEqual(describe([...first.events, ...rest.events]), [
      "1:put:s/a",
      "2:put:s/b",
      "3:put:s/a",
      "5:delete:s/a",
      "5:delete:s/b",
    ]);
    assert.equal(hubA.nextRevision(watchA), 4);
  });
  await t.step("a watcher carries over to a store restored from a snapshot", () => {
    const store = storeWith({}, put("a"));
    const hub = new WatchHub();
    hub.watch(store, { prefix: "" }, 1);
    store.apply(2, put("b"));
    const restored = KvStore.restore(store.snapshot());
    restored.apply(3, put("c"));
    const [delivery] = hub.poll(restored);
    assert.ok(delivery.kind === "events");
    assert.deepEqual(describe(delivery.events), ["1:put:a", "2:put:b", "3:put:c"]);
  });
});

const arbFilter: fc.Arbitrary<WatchFilter> = fc.oneof(
  arbKey().map((key) => ({ key })),
  fc.string({ unit: fc.constantFrom("a", "b", "/"), maxLength: 2 }).map((prefix) => ({ prefix })),
  fc.string({ unit: fc.constantFrom("a", "/", "*"), minLength: 1, maxLength: 4 }).map((
    pattern,
  ) => ({
    pattern,
  })),
);

Deno.test("property: a resumed watcher sees exactly the matching suffix of all events, in order", () => {
  const arbWatch = fc.record({
    filter: arbFilter,
    createAt: fc.nat({ max: 50 }),
    startBack: fc.nat({ max: 30 }),
  });
  fc.assert(
    fc.property(
      arbCommands(50),
      fc.array(arbWatch, { minLength: 1, maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 10 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 4, max: 200 }),
      fc.integer({ min: 300, max: 20_000 }),
      fc.integer({ min: 0, max: 50 }),
      (cmds, watches, batchSizes, pollEvery, historyLimitEvents, historyLimitBytes, restoreAt) => {
        // The reference keeps every event; the subject has a bounded window and is
        // replaced by a restored copy midway, as after a leader change. Watchers join
        // at random points, resuming from random past (or future) revisions.
        const reference = new KvStore({ historyLimitEvents: 100_000 });
        let store = new KvStore({ historyLimitEvents, historyLimitBytes });
        const hub = new WatchHub();
        const started = new Map<number, { filter: WatchFilter; start: number }>();
        const delivered = new Map<number, WatchEvent[]>();
        const cancelled = new Set<number>();
        const poll = (maxEvents: number) => {
          const deliveries = hub.poll(store, maxEvents);
          for (const d of deliveries) {
            if (d.kind === "events") delivered.get(d.watchId)!.push(...d.events);
            else cancelled.add(d.watchId);
          }
          return deliveries.length;
        };
        const join = (at: number) => {
          for (const w of watches.filter((w) => w.createAt === at)) {
            const start = Math.max(1, store.revision + 2 - w.startBack);
            if (start <= store.compactRevision) {
              assert.throws(() => hub.watch(store, w.filter, start), CompactedRevisionError);
              continue;
            }
            const id = hub.watch(store, w.filter, start);
            started.set(id, { filter: w.filter, start });
            delivered.set(id, []);
          }
        };
        cmds.forEach((cmd, i) => {
          join(i);
          reference.apply(i + 1, cmd);
          store.apply(i + 1, cmd);
          if (i === restoreAt) store = KvStore.restore(store.snapshot());
          if (i % pollEvery === 0) poll(batchSizes[i % batchSizes.length]);
        });
        join(cmds.length);
        for (let round = 0; round < 1000 && poll(1) > 0; round++);
        const all = (reference.history as EventHistory).toArray();
        for (const [id, { filter, start }] of started) {
          const matches = compileWatchFilter(filter);
          const expected = all.filter((e) => e.revision >= start && matches(e.kv.key));
          const got = delivered.get(id)!;
          if (cancelled.has(id)) {
            assert.deepEqual(
              got,
              expected.slice(0, got.length),
              "a cancelled watcher saw a prefix",
            );
          } else {
            assert.deepEqual(got, expected);
            assert.equal(hub.nextRevision(id), Math.max(start, store.revision + 1));
          }
        }
      },
    ),
    { numRuns: 200 },
  );
});
