import assert from "node:assert/strict";
import fc from "fast-check";
import { type Command, type Compare, DEFAULT_COMMAND_LIMITS, encodeCommand } from "./commands.ts";
import { type CommandResult, KvStore, type SuccessResult } from "./kv.ts";
import { decodeSnapshot, encodeSnapshot, SnapshotError } from "./snapshot.ts";
import { arbCommand, arbCommands } from "./arbitraries_test.ts";

/** Applies commands at indices 1, 2, ... and returns the results. */
function run(store: KvStore, cmds: readonly Command[], firstIndex = store.appliedIndex + 1) {
  return cmds.map((cmd, i) => store.apply(firstIndex + i, cmd));
}

type ResultFor<O extends SuccessResult["op"]> = SuccessResult extends infer S
  ? S extends { op: infer P } ? O extends P ? S : never : never
  : never;

/** Asserts that `result` succeeded with operation `op`, narrowing its type. */
function ok<O extends SuccessResult["op"]>(
  result: CommandResult,
  op: O,
): asserts result is ResultFor<O> {
  assert.ok(result.ok, `expected success, got ${JSON.stringify(result)}`);
  assert.equal(result.op, op);
}

function storeWith(...cmds: Command[]): KvStore {
  const store = new KvStore();
  run(store, cmds);
  return store;
}

Deno.test("put", async (t) => {
  await t.step("creates a key at the next revision with version 1", () => {
    const store = new KvStore();
    const result = store.apply(1, { op: "put", key: "a", value: "1" });
    assert.deepEqual(result, {
      op: "put",
      ok: true,
      revision: 1,
      kv: { key: "a", value: "1", createRevision: 1, modRevision: 1, version: 1, leaseId: 0 },
      prevKv: null,
    });
    assert.equal(store.revision, 1);
    assert.equal(store.appliedIndex, 1);
    ok(result, "put");
    assert.equal(store.get("a"), result.kv);
  });
  await t.step("updates keep createRevision and bump version and modRevision", () => {
    const store = storeWith({ op: "put", key: "a", value: "1" }, {
      op: "put",
      key: "b",
      value: "x",
    });
    const result = store.apply(3, { op: "put", key: "a", value: "2" });
    ok(result, "put");
    assert.equal(result.prevKv, null, "prevKv only when asked");
    assert.deepEqual(store.get("a"), {
      key: "a",
      value: "2",
      createRevision: 1,
      modRevision: 3,
      version: 2,
      leaseId: 0,
    });
  });
  await t.step("returns the previous record when asked", () => {
    const store = storeWith({ op: "put", key: "a", value: "1" });
    const before = store.get("a");
    const result = store.apply(2, { op: "put", key: "a", value: "2", prevKv: true });
    ok(result, "put");
    assert.equal(result.prevKv, before);
  });
  await t.step("a recreated key starts over at version 1", () => {
    const store = storeWith(
      { op: "put", key: "a", value: "1" },
      { op: "delete", key: "a" },
      { op: "put", key: "a", value: "2" },
    );
    assert.deepEqual(store.get("a"), {
      key: "a",
      value: "2",
      createRevision: 3,
      modRevision: 3,
      version: 1,
      leaseId: 0,
    });
  });
  await t.step("a put naming a missing lease is refused without writing", () => {
    const store = new KvStore();
    const result = store.apply(1, { op: "put", key: "a", value: "1", leaseId: 9 });
    assert.equal(result.ok, false);
    assert.ok(!result.ok && result.code === "leaseNotFound");
    assert.equal(store.revision, 0);
    assert.equal(store.get("a"), null);
    assert.equal(store.appliedIndex, 1, "a refused command still consumes its index");
  });
});

Deno.test("delete", async (t) => {
  await t.step("deletes one key at a new revision", () => {
    const store = storeWith({ op: "put", key: "a", value: "1" }, {
      op: "put",
      key: "ab",
      value: "2",
    });
    const result = store.apply(3, { op: "delete", key: "a", prevKv: true });
    ok(result, "delete");
    assert.equal(result.deleted, 1);
    assert.equal(result.revision, 3);
    assert.equal(result.prevKvs[0].value, "1");
    assert.equal(store.get("a"), null);
    assert.equal(store.get("ab")?.value, "2");
  });
  await t.step("deleting a missing key changes nothing, not even the revision", () => {
    const store = storeWith({ op: "put", key: "a", value: "1" });
    const result = store.apply(2, { op: "delete", key: "zz" });
    assert.deepEqual(result, { op: "delete", ok: true, revision: 1, deleted: 0, prevKvs: [] });
    assert.equal(store.revision, 1);
  });
  await t.step("a prefix delete removes every matching key at one revision, in key order", () => {
    const store = storeWith(
      { op: "put", key: "s/b", value: "1" },
      { op: "put", key: "s/a", value: "2" },
      { op: "put", key: "t", value: "3" },
      { op: "put", key: "s", value: "4" },
    );
    const result = store.apply(5, { op: "delete", key: "s/", prefix: true, prevKv: true });
    ok(result, "delete");
    assert.equal(result.deleted, 2);
    assert.deepEqual(result.prevKvs.map((kv) => kv.key), ["s/a", "s/b"]);
    assert.equal(store.revision, 5);
    const events: string[] = [];
    store.history.forEachFrom(5, (e) => events.push(`${e.type} ${e.kv.key} @${e.revision}`) > 0);
    assert.deepEqual(events, ["delete s/a @5", "delete s/b @5"]);
    assert.deepEqual(store.range("", 10).kvs.map((kv) => kv.key), ["s", "t"]);
  });
  await t.step("an empty prefix deletes everything", () => {
    const store = storeWith({ op: "put", key: "a", value: "" }, { op: "put", key: "b", value: "" });
    store.apply(3, { op: "delete", key: "", prefix: true });
    assert.equal(store.size, 0);
  });
});

Deno.test("get and range", async (t) => {
  const store = storeWith(
    { op: "put", key: "n/c", value: "3" },
    { op: "put", key: "n/a", value: "1" },
    { op: "put", key: "n/b", value: "2" },
    { op: "put", key: "m", value: "0" },
    { op: "put", key: "o", value: "4" },
  );
  await t.step("get through the log reports the revision it observed", () => {
    const result = store.apply(6, { op: "get", key: "n/a" });
    ok(result, "get");
    assert.equal(result.kv?.value, "1");
    assert.equal(result.revision, 5);
    assert.equal(store.apply(7, { op: "get", key: "nope" }).op === "get", true);
    assert.equal(store.revision, 5, "reads do not write");
  });
  await t.step("range returns keys in order up to the limit, with the total count", () => {
    const result = store.apply(8, { op: "range", prefix: "n/", limit: 2 });
    ok(result, "range");
    assert.deepEqual(result.kvs.map((kv) => kv.key), ["n/a", "n/b"]);
    assert.equal(result.more, true);
    assert.equal(result.count, 3);
    assert.deepEqual(store.range("n/", 3).more, false);
    assert.deepEqual(store.range("", 100).kvs.map((kv) => kv.key), ["m", "n/a", "n/b", "n/c", "o"]);
    assert.deepEqual(store.range("x", 1), {
      op: "range",
      ok: true,
      revision: 5,
      kvs: [],
      more: false,
      count: 0,
    });
  });
  await t.step("range pages after a key: every key once, in order, however the pages fall", () => {
    const page1 = store.apply(9, { op: "range", prefix: "n/", limit: 1, after: "n/a" });
    ok(page1, "range");
    assert.deepEqual(page1.kvs.map((kv) => kv.key), ["n/b"]);
    assert.equal(page1.more, true);
    assert.deepEqual(store.range("n/", 5, "n/b").kvs.map((kv) => kv.key), ["n/c"]);
    assert.deepEqual(store.range("n/", 5, "n/c").kvs, [], "after the last key: nothing");
    assert.deepEqual(store.range("n/", 5, "n/aa").kvs.map((kv) => kv.key), ["n/b", "n/c"]);
    assert.deepEqual(store.range("n/", 5, "a").kvs.length, 3, "a key before the prefix: all");
    assert.deepEqual(store.range("n/", 5, "z").kvs, [], "a key past the prefix: nothing");
    const seen: string[] = [];
    for (let after: string | undefined, more = true; more;) {
      const page = store.range("", 2, after);
      seen.push(...page.kvs.map((kv) => kv.key));
      after = page.kvs.at(-1)?.key;
      more = page.more;
    }
    assert.deepEqual(seen, ["m", "n/a", "n/b", "n/c", "o"]);
  });
  await t.step("a local range refuses a non-positive limit", () => {
    assert.throws(() => store.range("", 0), RangeError);
  });
});

Deno.test("keys created in bulk, in any order, are ranged, deleted and snapshotted in order", () => {
  const store = new KvStore();
  const keys = Array.from({ length: 500 }, (_, i) => `k/${(i * 7919) % 500}`);
  run(store, keys.map((key) => ({ op: "put", key, value: "v" })));
  const sorted = [...keys].sort();
  const all = store.range("k/", 1000);
  assert.deepEqual(all.kvs.map((kv) => kv.key), sorted);
  // Between orderings, more keys arrive; deletes see every key.
  run(store, [
    { op: "put", key: "k/10a", value: "v" },
    { op: "delete", key: "k/250" },
    { op: "put", key: "a", value: "v" },
    { op: "delete", key: "k/4", prefix: true },
  ]);
  const expected = [...sorted, "k/10a"].filter((k) => k !== "k/250" && !k.startsWith("k/4"))
    .sort();
  assert.deepEqual(store.range("k/", 1000).kvs.map((kv) => kv.key), expected);
  store.assertInvariants();
  const copy = KvStore.restore(store.snapshot());
  assert.deepEqual(copy.range("", 1000).kvs.map((kv) => kv.key), ["a", ...expected]);
});

Deno.test("txn", async (t) => {
  const base = () =>
    storeWith({ op: "put", key: "a", value: "1" }, { op: "put", key: "a", value: "2" });
  const cas = (
    target: "version" | "createRevision" | "modRevision",
    value: number,
  ): Command => ({
    op: "txn",
    compare: [{ key: "a", target, result: "equal", value }],
    success: [{ op: "put", key: "a", value: "new" }, { op: "get", key: "a" }],
    failure: [{ op: "get", key: "a" }],
  });
  const table: Array<[string, Command, boolean]> = [
    ["version matches", cas("version", 2), true],
    ["version differs", cas("version", 1), false],
    ["createRevision matches", cas("createRevision", 1), true],
    ["modRevision matches", cas("modRevision", 2), true],
    ["modRevision is stale", cas("modRevision", 1), false],
  ];
  for (const [name, cmd, succeeded] of table) {
    await t.step(`compare-and-swap: ${name}`, () => {
      const store = base();
      const result = store.apply(3, cmd);
      ok(result, "txn");
      assert.equal(result.succeeded, succeeded);
      assert.equal(store.get("a")?.value, succeeded ? "new" : "2");
      assert.equal(store.revision, succeeded ? 3 : 2);
      assert.equal(result.revision, store.revision);
      const last = result.responses[result.responses.length - 1];
      ok(last, "get");
      assert.equal(last.kv?.value, succeeded ? "new" : "2", "a get sees the branch's own writes");
      assert.equal(last.revision, store.revision);
    });
  }
  await t.step("every comparison relation", () => {
    const store = base();
    const holds = (result: "equal" | "notEqual" | "less" | "greater", value: number | string) => {
      const compare = typeof value === "number"
        ? { key: "a", target: "version" as const, result, value }
        : { key: "a", target: "value" as const, result, value };
      const r = store.apply(store.appliedIndex + 1, {
        op: "txn",
        compare: [compare],
        success: [],
        failure: [],
      });
      ok(r, "txn");
      return r.succeeded;
    };
    assert.deepEqual(
      [holds("equal", 2), holds("notEqual", 2), holds("less", 3), holds("greater", 1)],
      [true, false, true, true],
    );
    assert.deepEqual(
      [holds("equal", "2"), holds("notEqual", "2"), holds("less", "3"), holds("greater", "10")],
      [true, false, true, true],
    );
  });
  await t.step("a missing key has version 0 and never compares on value", () => {
    const store = new KvStore();
    const create = (compare: Compare) =>
      store.apply(store.appliedIndex + 1, {
        op: "txn",
        compare: [compare],
        success: [],
        failure: [],
      });
    const r1 = create({ key: "x", target: "version", result: "equal", value: 0 });
    const r2 = create({ key: "x", target: "value", result: "notEqual", value: "y" });
    ok(r1, "txn");
    ok(r2, "txn");
    assert.equal(r1.succeeded, true);
    assert.equal(r2.succeeded, false);
  });
  await t.step("all writes of a transaction share one revision", () => {
    const store = base();
    const result = store.apply(3, {
      op: "txn",
      compare: [],
      success: [{ op: "put", key: "b", value: "" }, { op: "delete", key: "a" }],
      failure: [],
    });
    ok(result, "txn");
    assert.deepEqual(result.responses.map((r) => r.revision), [3, 3]);
    assert.equal(store.revision, 3);
    assert.equal(store.get("b")?.modRevision, 3);
  });
  await t.step("a branch naming a missing lease is refused as a whole", () => {
    const store = base();
    const result = store.apply(3, {
      op: "txn",
      compare: [],
      success: [{ op: "put", key: "b", value: "" }, { op: "put", key: "c", value: "", leaseId: 4 }],
      failure: [],
    });
    assert.ok(!result.ok && result.code === "leaseNotFound");
    assert.equal(store.get("b"), null);
    assert.equal(store.revision, 2);
  });
});

Deno.test("leases in the store", async (t) => {
  await t.step("grant, attach keys, keep alive, revoke deletes the keys at one revision", () => {
    const store = new KvStore();
    const grant = store.apply(1, { op: "leaseGrant", leaseId: 5, ttlMs: 1000, nowMs: 10 });
    assert.deepEqual(grant, {
      op: "leaseGrant",
      ok: true,
      revision: 0,
      leaseId: 5,
      ttlMs: 1000,
      renewIndex: 1,
    });
    run(store, [
      { op: "put", key: "s/b", value: "", leaseId: 5 },
      { op: "put", key: "s/a", value: "", leaseId: 5 },
      { op: "put", key: "t", value: "" },
    ]);
    const keep = store.apply(5, { op: "leaseKeepAlive", leaseId: 5, nowMs: 900 });
    ok(keep, "leaseKeepAlive");
    assert.equal(keep.renewIndex, 5);
    assert.deepEqual(store.lease(5), {
      id: 5,
      ttlMs: 1000,
      renewIndex: 5,
      renewedAtMs: 900,
      keys: ["s/a", "s/b"],
    });
    const revoke = store.apply(6, { op: "leaseRevoke", leaseId: 5 });
    assert.deepEqual(revoke, {
      op: "leaseRevoke",
      ok: true,
      revision: 4,
      leaseId: 5,
      deletedKeys: ["s/a", "s/b"],
    });
    assert.equal(store.lease(5), null);
    assert.deepEqual(store.range("", 10).kvs.map((kv) => kv.key), ["t"]);
  });
  await t.step("re-putting a key without a lease detaches it", () => {
    const store = storeWith(
      { op: "leaseGrant", leaseId: 1, ttlMs: 1000, nowMs: 0 },
      { op: "put", key: "a", value: "", leaseId: 1 },
      { op: "put", key: "a", value: "" },
    );
    assert.deepEqual(store.lease(1)?.keys, []);
    store.apply(4, { op: "leaseRevoke", leaseId: 1 });
    assert.equal(store.get("a")?.value, "");
  });
  await t.step("deleting a leased key detaches it", () => {
    const store = storeWith(
      { op: "leaseGrant", leaseId: 1, ttlMs: 1000, nowMs: 0 },
      { op: "put", key: "a", value: "", leaseId: 1 },
      { op: "delete", key: "a" },
    );
    assert.deepEqual(store.lease(1)?.keys, []);
  });
  const errors: Array<[string, Command[], Command, string]> = [
    ["granting a live id", [{ op: "leaseGrant", leaseId: 1, ttlMs: 1, nowMs: 0 }], {
      op: "leaseGrant",
      leaseId: 1,
      ttlMs: 5,
      nowMs: 0,
    }, "leaseExists"],
    [
      "keeping a missing lease alive",
      [],
      { op: "leaseKeepAlive", leaseId: 1, nowMs: 0 },
      "leaseNotFound",
    ],
    ["revoking a missing lease", [], { op: "leaseRevoke", leaseId: 1 }, "leaseNotFound"],
    ["expiring a missing lease", [], {
      op: "leaseExpire",
      leaseId: 1,
      term: 1,
      renewIndex: 1,
    }, "leaseNotFound"],
    [
      "expiring with a stale renew index",
      [
        { op: "leaseGrant", leaseId: 1, ttlMs: 1, nowMs: 0 },
        { op: "leaseKeepAlive", leaseId: 1, nowMs: 5 },
      ],
      { op: "leaseExpire", leaseId: 1, term: 1, renewIndex: 1 },
      "fenced",
    ],
    [
      "expiring from an older term",
      [
        { op: "leaseGrant", leaseId: 1, ttlMs: 1, nowMs: 0 },
        { op: "leaseGrant", leaseId: 2, ttlMs: 1, nowMs: 0 },
        { op: "leaseExpire", leaseId: 2, term: 3, renewIndex: 2 },
      ],
      { op: "leaseExpire", leaseId: 1, term: 2, renewIndex: 1 },
      "fenced",
    ],
  ];
  for (const [name, setup, cmd, code] of errors) {
    await t.step(`refused: ${name}`, () => {
      const store = storeWith(...setup);
      const before = store.leases();
      const result = store.apply(store.appliedIndex + 1, cmd);
      assert.ok(!result.ok, JSON.stringify(result));
      assert.equal(result.code, code);
      assert.equal(result.op, cmd.op);
      assert.match(result.message, /lease|term/);
      assert.deepEqual(store.leases(), before, "a refused lease command changes no lease");
    });
  }
  await t.step("an expiry with the current token deletes the lease and its keys", () => {
    const store = storeWith(
      { op: "leaseGrant", leaseId: 1, ttlMs: 1, nowMs: 0 },
      { op: "put", key: "a", value: "", leaseId: 1 },
    );
    const result = store.apply(3, { op: "leaseExpire", leaseId: 1, term: 4, renewIndex: 1 });
    assert.ok(result.ok && result.op === "leaseExpire");
    assert.deepEqual(result.deletedKeys, ["a"]);
    assert.equal(store.leaseFenceTerm, 4);
    assert.equal(store.get("a"), null);
  });
});

Deno.test("log entries", async (t) => {
  await t.step("an empty entry is a no-op that advances the applied index", () => {
    const store = new KvStore();
    assert.deepEqual(store.applyEntry(3, new Uint8Array(0)), { op: "noop", ok: true, revision: 0 });
    assert.equal(store.appliedIndex, 3);
  });
  await t.step("an encoded command is decoded and applied", () => {
    const store = new KvStore();
    const result = store.applyEntry(1, encodeCommand({ op: "put", key: "a", value: "1" }));
    assert.equal(result.op, "put");
    assert.equal(store.get("a")?.value, "1");
  });
  await t.step("an undecodable entry is refused as a result, identically everywhere", () => {
    const store = new KvStore();
    const result = store.applyEntry(1, new Uint8Array([1, 0x7b]));
    assert.ok(!result.ok && result.code === "invalidCommand");
    assert.equal(store.appliedIndex, 1);
  });
  await t.step("admission limits do not apply to committed entries", () => {
    const generous = {
      ...DEFAULT_COMMAND_LIMITS,
      maxValueBytes: 4 * 1024 * 1024,
      maxCommandBytes: 8 * 1024 * 1024,
    };
    const entry = encodeCommand(
      { op: "put", key: "a", value: "x".repeat(2 * 1024 * 1024) },
      generous,
    );
    const store = new KvStore();
    assert.equal(store.applyEntry(1, entry).ok, true);
    assert.equal(store.get("a")?.value.length, 2 * 1024 * 1024);
  });
  await t.step("indices must increase", () => {
    const store = storeWith({ op: "put", key: "a", value: "" });
    assert.throws(() => store.apply(1, { op: "get", key: "a" }), RangeError);
    assert.throws(() => store.markApplied(0), RangeError);
    assert.throws(() => store.apply(2.5, { op: "get", key: "a" }), RangeError);
    store.markApplied(5);
    assert.equal(store.appliedIndex, 5);
  });
});

Deno.test("snapshot and restore", async (t) => {
  const store = storeWith(
    { op: "leaseGrant", leaseId: 2, ttlMs: 500, nowMs: 7 },
    { op: "put", key: "b", value: "β", leaseId: 2 },
    { op: "put", key: "a", value: "1" },
    { op: "delete", key: "a" },
    { op: "leaseGrant", leaseId: 1, ttlMs: 100, nowMs: 8 },
  );
  await t.step("restores keys, leases, history, revision and applied index", () => {
    const copy = KvStore.restore(store.snapshot());
    assert.equal(copy.revision, 3);
    assert.equal(copy.appliedIndex, 5);
    assert.deepEqual(copy.get("b"), store.get("b"));
    assert.deepEqual(copy.leases(), store.leases());
    assert.equal(copy.history.size, 3);
    assert.deepEqual(copy.snapshot(), store.snapshot());
  });
  await t.step("keys and values that start with a byte-order mark keep it", () => {
    // The UTF-8 decoder used to strip a leading U+FEFF: a restored node held another key.
    const bom = storeWith({ op: "put", key: "\ufeffk", value: "\ufeffv" });
    const copy = KvStore.restore(bom.snapshot());
    assert.equal(copy.get("\ufeffk")?.value, "\ufeffv");
    assert.equal(copy.get("k"), null);
    assert.deepEqual(copy.snapshot(), bom.snapshot());
  });
  await t.step("a record shared by several events encodes as separate copies would", () => {
    const shared = storeWith(
      { op: "put", key: "a", value: "1" },
      { op: "put", key: "a", value: "2" },
      { op: "put", key: "b", value: "é" },
      { op: "put", key: "b", value: "3" },
      { op: "delete", key: "a" },
    );
    const bytes = shared.snapshot();
    const state = decodeSnapshot(bytes);
    // The store shares record objects between its records and events; decoding gives every
    // occurrence its own object. Both must encode to the same bytes.
    assert.deepEqual(encodeSnapshot(structuredClone(state)), bytes);
    assert.deepEqual(encodeSnapshot(state), bytes);
  });
  await t.step("a large state (many keys, big values) round-trips", () => {
    const big = new KvStore();
    for (let i = 1; i <= 300; i++) {
      big.apply(i, { op: "put", key: `k${i}`, value: "v".repeat(i * 7) });
    }
    big.apply(301, { op: "put", key: "huge", value: "é".repeat(200_000) });
    const bytes = big.snapshot();
    assert.ok(bytes.length > 1_000_000);
    const copy = KvStore.restore(bytes);
    assert.equal(copy.get("huge")?.value.length, 200_000);
    assert.deepEqual(copy.range("", 1000).kvs, big.range("", 1000).kvs);
    assert.deepEqual(copy.snapshot(), bytes);
  });
  await t.step("a flipped byte anywhere is caught", () => {
    const bytes = store.snapshot();
    for (let i = 0; i < bytes.length; i++) {
      const corrupt = bytes.slice();
      corrupt[i] ^= 0x10;
      assert.throws(() => KvStore.restore(corrupt), SnapshotError, `byte ${i}`);
    }
  });
  await t.step("truncated input and foreign bytes are refused with a reason", () => {
    const bytes = store.snapshot();
    const reasonOf = (b: Uint8Array) => {
      try {
        KvStore.restore(b);
        return "restored";
      } catch (error) {
        assert.ok(error instanceof SnapshotError);
        return error.reason;
      }
    };
    assert.equal(reasonOf(bytes.subarray(0, 3)), "truncated");
    assert.equal(reasonOf(bytes.subarray(0, bytes.length - 1)), "checksum");
    assert.equal(reasonOf(new TextEncoder().encode("{not a snapshot}")), "badMagic");
  });
  await t.step("a well-checksummed but inconsistent state is refused", () => {
    const state = decodeSnapshot(store.snapshot());
    const unsorted = { ...state, kvs: [...state.kvs, { ...state.kvs[0] }] };
    assert.throws(() => decodeSnapshot(encodeSnapshot(unsorted)), /not sorted/);
    const orphan = { ...state, leases: [] };
    assert.throws(() => decodeSnapshot(encodeSnapshot(orphan)), /missing lease/);
    const future = { ...state, revision: 1 };
    assert.throws(() => decodeSnapshot(encodeSnapshot(future)), SnapshotError);
    const lostHistory = { ...state, events: state.events.slice(0, -1) };
    assert.throws(() => decodeSnapshot(encodeSnapshot(lostHistory)), /history ends at revision 2/);
  });
});

Deno.test("property: equal command sequences give byte-identical snapshots and results", () => {
  fc.assert(
    fc.property(arbCommands(60), (cmds) => {
      const a = new KvStore({ historyLimitEvents: 8, historyLimitBytes: 500 });
      const b = new KvStore({ historyLimitEvents: 8, historyLimitBytes: 500 });
      const results = cmds.map((cmd, i) => {
        const result = a.apply(i + 1, cmd);
        a.assertInvariants();
        return result;
      });
      assert.deepEqual(results, run(b, cmds));
      assert.deepEqual(a.snapshot(), b.snapshot());
    }),
    { numRuns: 150 },
  );
});

Deno.test("property: snapshot → restore → continue equals continuing directly", () => {
  fc.assert(
    fc.property(arbCommands(40), arbCommands(40), (before, after) => {
      const direct = new KvStore({ historyLimitEvents: 8, historyLimitBytes: 500 });
      run(direct, before);
      const restored = KvStore.restore(direct.snapshot());
      restored.assertInvariants();
      assert.deepEqual(run(restored, after), run(direct, after));
      restored.assertInvariants();
      assert.deepEqual(restored.snapshot(), direct.snapshot());
    }),
    { numRuns: 150 },
  );
});

Deno.test("property: the revision goes up by exactly one per command that writes", () => {
  fc.assert(
    fc.property(arbCommands(60), (cmds) => {
      const store = new KvStore();
      cmds.forEach((cmd, i) => {
        const before = store.revision;
        const eventsBefore = store.history.size;
        const result = store.apply(i + 1, cmd);
        const wrote = store.history.size > eventsBefore;
        assert.equal(store.revision, wrote ? before + 1 : before);
        assert.equal(result.revision, store.revision);
        for (const kv of store.range("", 1000).kvs) {
          assert.ok(kv.createRevision <= kv.modRevision && kv.modRevision <= store.revision);
          assert.ok(kv.version >= 1);
        }
      });
    }),
    { numRuns: 150 },
  );
});

interface ModelRecord {
  value: string;
  createRevision: number;
  modRevision: number;
  version: number;
}

/** A naive reference for put/delete/get/range/txn without leases. */
class Model {
  kvs = new Map<string, ModelRecord>();
  revision = 0;

  apply(cmd: Command): unknown {
    const revision = this.revision + 1;
    let wrote = false;
    const put = (key: string, value: string) => {
      const prev = this.kvs.get(key);
      this.kvs.set(key, {
        value,
        createRevision: prev?.createRevision ?? revision,
        modRevision: revision,
        version: (prev?.version ?? 0) + 1,
      });
      wrote = true;
    };
    const del = (key: string, prefix: boolean) => {
      const keys = [...this.kvs.keys()].filter((k) => prefix ? k.startsWith(key) : k === key);
      for (const k of keys) this.kvs.delete(k);
      if (keys.length > 0) wrote = true;
      return keys.length;
    };
    let out: unknown;
    switch (cmd.op) {
      case "put":
        put(cmd.key, cmd.value);
        break;
      case "delete":
        out = del(cmd.key, cmd.prefix ?? false);
        break;
      case "get":
        out = this.kvs.get(cmd.key)?.value ?? null;
        break;
      case "range":
        out = [...this.kvs.keys()].filter((k) => k.startsWith(cmd.prefix)).sort()
          .slice(0, cmd.limit);
        break;
      case "txn": {
        const holds = cmd.compare.every((c) => {
          const r = this.kvs.get(c.key);
          if (c.target === "value" && r === undefined) return false;
          const actual = c.target === "value" ? r!.value : r?.[c.target] ?? 0;
          return c.result === "equal"
            ? actual === c.value
            : c.result === "notEqual"
            ? actual !== c.value
            : c.result === "less"
            ? actual < c.value
            : actual > c.value;
        });
        for (const op of holds ? cmd.success : cmd.failure) {
          if (op.op === "put") put(op.key, op.value);
          else if (op.op === "delete") del(op.key, op.prefix ?? false);
        }
        out = holds;
        break;
      }
      default:
        throw new Error(`model does not cover ${cmd.op}`);
    }
    if (wrote) this.revision = revision;
    return out;
  }
}

function observe(result: CommandResult): unknown {
  if (!result.ok) return result.code;
  switch (result.op) {
    case "delete":
      return result.deleted;
    case "get":
      return result.kv?.value ?? null;
    case "range":
      return result.kvs.map((kv) => kv.key);
    case "txn":
      return result.succeeded;
    default:
      return undefined;
  }
}

Deno.test("property: put/delete/get/range/txn (CAS) agree with a naive model", () => {
  const noLeases = arbCommand().filter((cmd) =>
    !cmd.op.startsWith("lease") &&
    !(cmd.op === "put" && cmd.leaseId !== undefined) &&
    !(cmd.op === "txn" &&
      [...cmd.success, ...cmd.failure].some((op) => op.op === "put" && op.leaseId !== undefined))
  );
  fc.assert(
    fc.property(fc.array(noLeases, { maxLength: 60, size: "max" }), (cmds) => {
      const store = new KvStore();
      const model = new Model();
      cmds.forEach((cmd, i) => {
        const result = store.apply(i + 1, cmd);
        assert.deepEqual(observe(result), model.apply(cmd), JSON.stringify(cmd));
        assert.equal(store.revision, model.revision);
      });
      const all = store.range("", 1000).kvs;
      assert.deepEqual(
        all.map(({ key, value, createRevision, modRevision, version }) => [
          key,
          { value, createRevision, modRevision, version },
        ]),
        [...model.kvs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)),
      );
    }),
    { numRuns: 200 },
  );
});

Deno.test("property: a range page is the naive filter of the sorted keys, counted alike", () => {
  const key = fc.string({
    unit: fc.constantFrom("a", "b", "/", "\u00e9"),
    minLength: 1,
    maxLength: 4,
  });
  fc.assert(
    fc.property(
      fc.uniqueArray(key, { maxLength: 30 }),
      fc.string({ unit: fc.constantFrom("a", "b", "/"), maxLength: 2 }),
      fc.option(key, { nil: undefined }),
      fc.integer({ min: 1, max: 8 }),
      (keys, prefix, after, limit) => {
        const store = new KvStore();
        keys.forEach((k, i) =>
          store.applyEntry(i + 1, encodeCommand({ op: "put", key: k, value: "" }))
        );
        const matching = [...keys].sort().filter((k) =>
          k.startsWith(prefix) && (after === undefined || after < prefix || k > after)
        );
        const page = store.range(prefix, limit, after);
        assert.deepEqual(page.kvs.map((kv) => kv.key), matching.slice(0, limit));
        assert.equal(page.count, matching.length);
        assert.equal(page.more, matching.length > limit);
      },
    ),
  );
});
