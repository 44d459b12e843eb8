/**
 * The contract every {@link StateStore} engine must meet, as a test suite
 * that each engine's tests run against their own store:
 *
 * ```ts
 * Deno.test("my store meets the StateStore contract", async (t) => {
 *   await runStateStoreContract(t, () => Promise.resolve(new MyStore()));
 * });
 * ```
 *
 * Semantics pinned here (the embedded Raft store and etcd agree on them):
 * - Every write that changes at least one key commits at a revision greater
 *   than every earlier one; all changes of one write share its revision. A
 *   write that changes nothing (deleting a missing key, a transaction branch
 *   without writes) reports the unchanged store revision.
 * - A key's record carries createRevision, modRevision, version (1 on
 *   creation, +1 per put) and leaseId (0 when detached).
 * - `txn` is compare-and-swap: a missing key has version, createRevision and
 *   modRevision 0, and a `value` comparison on it is false.
 * - Leases: revoke or expiry deletes the attached keys (with delete events);
 *   keep-alive on a gone lease is `false`; a put or revoke naming an unknown
 *   lease rejects with an error whose `code` is `"leaseNotFound"`.
 * - Watches deliver each matching event once, in revision order, all events
 *   of one revision in one call, from `startRevision` on (default: after the
 *   revision current at the call); a watch split into two at any revision
 *   sees exactly what one unbroken watch sees; nothing arrives after
 *   `cancel()` resolves; a start revision older than the retained history
 *   ends the watch through `onEnd` with the oldest revision still available.
 * - Random sequences of put, delete, get, range and txn give the same
 *   answers as the reference state machine (`KvStore` from core/state),
 *   revisions compared through the order in which writes committed.
 * - Bad input rejects before anything is written: keys, values, limits and
 *   TTLs with a `CommandError` (from `@safla/core/state`) naming the field,
 *   watch selectors with a `WatchRequestError`.
 *
 * Keys are written under a fresh namespace per run, so a store may be shared
 * with other data; only `compact` (when given) affects the whole store.
 *
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Command,
  type Compare,
  type KeyValue,
  KvStore,
  type TxnOp,
  type WatchEvent,
} from "@safla/core/state";
import type { StateStore, WatchEnd } from "./types.ts";

/** Engine-specific hooks of the contract. */
export interface StateStoreContractOptions {
  /**
   * Discards the history before `revision` (etcd: compaction; the embedded
   * store: trimming its event history), so that watches from older
   * revisions end. Given: the compaction steps run.
   */
  compact?: (revision: number) => Promise<void>;
  /** Bound on how long after its TTL an unrenewed lease may still exist (default 10 000 ms). */
  leaseExpirySlackMs?: number;
  /** Bound on waiting for watch events after the write that caused them (default 5 000 ms). */
  watchDeliveryTimeoutMs?: number;
  /** Random operation sequences checked against the reference model (default 30). */
  modelRuns?: number;
}

const POLL_INTERVAL_MS = 50;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it holds, failing with `what` after `timeoutMs`. */
async function eventually(
  what: string,
  timeoutMs: number,
  condition: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new assert.AssertionError({ message: `timed out: ${what}` });
    await sleep(POLL_INTERVAL_MS);
  }
}

/**
 * Records every delivery of a watch and checks the delivery invariants as
 * they arrive. Violations are kept, not thrown: a throw would land in the
 * store's callback machinery instead of the test.
 */
class WatchRecorder {
  readonly batches: WatchEvent[][] = [];
  readonly ends: WatchEnd[] = [];
  readonly violations: string[] = [];

  get events(): WatchEvent[] {
    return this.batches.flat();
  }

  readonly onEvents = (events: WatchEvent[]): void => {
    const last = this.events.at(-1)?.revision ?? 0;
    if (events.length === 0) this.violations.push("an empty batch");
    else if (events[0].revision <= last) {
      this.violations.push(`a batch starts at revision ${events[0].revision}, not after ${last}`);
    }
    for (let i = 1; i < events.length; i++) {
      if (events[i].revision < events[i - 1].revision) {
        this.violations.push(`events out of revision order in a batch`);
      }
    }
    this.batches.push(events);
  };

  readonly onEnd = (end: WatchEnd): void => {
    this.ends.push(end);
  };

  /** Waits for at least `count` events; fails on any delivery violation. */
  async waitForEvents(count: number, timeoutMs: number): Promise<WatchEvent[]> {
    await eventually(`${count} watch events`, timeoutMs, () => {
      assert.deepEqual(this.violations, [], "watch delivery invariants");
      return this.events.length >= count;
    });
    return this.events;
  }
}

/** The fields of an event that both engines define, for comparisons. */
function summary(event: WatchEvent): string {
  return `${event.type} ${event.kv.key}=${event.kv.value} @${event.revision}`;
}

async function assertRejectsWith(
  promise: Promise<unknown>,
  name: string,
  detail: { code?: string; field?: string } = {},
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof Error, `expected an Error, got ${error}`);
    assert.equal(error.name, name, `expected a ${name}, got ${error.name}: ${error.message}`);
    const fields = error as unknown as Record<string, unknown>;
    if (detail.code !== undefined) assert.equal(fields.code, detail.code, error.message);
    if (detail.field !== undefined) assert.equal(fields.field, detail.field, error.message);
    return true;
  });
}

async function assertRejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof Error, `expected an Error, got ${error}`);
    assert.equal((error as unknown as Record<string, unknown>).code, code, error.message);
    return true;
  });
}

async function currentRevision(store: StateStore, ns: string): Promise<number> {
  return (await store.range(ns, { limit: 1 })).revision;
}

/** One operation of a random sequence, on keys relative to the run's namespace. */
type ModelOp =
  | { op: "put"; key: string; value: string }
  | { op: "delete"; key: string; prefix: boolean }
  | { op: "get"; key: string }
  | { op: "range"; prefix: string; limit: number }
  | { op: "txn"; compare: Compare[]; success: TxnOp[]; failure: TxnOp[] };

const MODEL_KEYS = ["a", "b", "a/x", "a/y", "c"];
const modelKey = fc.constantFrom(...MODEL_KEYS);
const modelValue = fc.constantFrom("", "1", "2", "héllo ✓");

/** Compares only on versions, values and "exists" (revision 0), so no operand needs translating. */
const modelCompare: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({
    key: modelKey,
    target: fc.constant("version" as const),
    result: fc.constantFrom(
      "equal" as const,
      "notEqual" as const,
      "less" as const,
      "greater" as const,
    ),
    value: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({
    key: modelKey,
    target: fc.constantFrom("modRevision" as const, "createRevision" as const),
    result: fc.constantFrom("equal" as const, "greater" as const),
    value: fc.constant(0),
  }),
  fc.record({
    key: modelKey,
    target: fc.constant("value" as const),
    result: fc.constantFrom(
      "equal" as const,
      "notEqual" as const,
      "less" as const,
      "greater" as const,
    ),
    value: modelValue,
  }),
);

/** A branch touching each key at most once (etcd and the embedded store refuse overlaps). */
const modelBranch: fc.Arbitrary<TxnOp[]> = fc.uniqueArray(
  fc.oneof(
    fc.record({ op: fc.constant("put" as const), key: modelKey, value: modelValue }),
    fc.record({ op: fc.constant("delete" as const), key: modelKey }),
    fc.record({ op: fc.constant("get" as const), key: modelKey }),
  ),
  { maxLength: 3, selector: (op) => op.key },
);

const modelOp: fc.Arbitrary<ModelOp> = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant("put" as const), key: modelKey, value: modelValue }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("delete" as const),
      key: modelKey,
      prefix: fc.boolean(),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant("get" as const), key: modelKey }), weight: 1 },
  {
    arbitrary: fc.record({
      op: fc.constant("range" as const),
      prefix: fc.constantFrom("", "a", "a/", "b"),
      limit: fc.integer({ min: 1, max: 4 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      op: fc.constant("txn" as const),
      compare: fc.array(modelCompare, { maxLength: 2 }),
      success: modelBranch,
      failure: modelBranch,
    }),
    weight: 3,
  },
);

/**
 * Replays `ops` on `store` and on the reference state machine (`KvStore`
 * from core/state), asserting equal answers. Revisions are compared through
 * a map from model revisions to the store's, built from write replies, so
 * the store may start at any revision.
 */
async function checkAgainstModel(store: StateStore, ns: string, ops: ModelOp[]): Promise<void> {
  const model = new KvStore();
  let index = 0;
  const apply = (command: Command) => model.apply(++index, command);
  const storeRevision = new Map<number, number>([[0, await currentRevision(store, ns)]]);
  let lastStoreRevision = storeRevision.get(0)!;
  const translate = (kv: KeyValue | null | undefined): KeyValue | undefined => {
    if (!kv) return undefined;
    const createRevision = storeRevision.get(kv.createRevision);
    const modRevision = storeRevision.get(kv.modRevision);
    assert.ok(createRevision !== undefined && modRevision !== undefined, "unmapped revision");
    return { ...kv, createRevision, modRevision };
  };
  const observeWrite = (modelRevision: number, revision: number, what: string): void => {
    const known = storeRevision.get(modelRevision);
    if (known === undefined) {
      assert.ok(revision > lastStoreRevision, `${what}: revision ${revision} did not advance`);
      storeRevision.set(modelRevision, revision);
      lastStoreRevision = revision;
    } else {
      assert.ok(revision >= known, `${what}: revision ${revision} went back before ${known}`);
    }
  };
  const full = (op: TxnOp): TxnOp => ({ ...op, key: ns + op.key });
  for (const [i, op] of ops.entries()) {
    const what = `op ${i} ${JSON.stringify(op)}`;
    switch (op.op) {
      case "put": {
        const expected = apply({ op: "put", key: ns + op.key, value: op.value, prevKv: true });
        assert.ok(expected.ok && expected.op === "put");
        const prevExpected = translate(expected.prevKv);
        const reply = await store.put(ns + op.key, op.value);
        observeWrite(expected.revision, reply.revision, what);
        assert.deepEqual(reply.prev, prevExpected ? [prevExpected] : [], what);
        break;
      }
      case "delete": {
        const expected = apply({ op: "delete", key: ns + op.key, prefix: op.prefix, prevKv: true });
        assert.ok(expected.ok && expected.op === "delete");
        const prevExpected = expected.prevKvs.map(translate);
        const reply = await store.delete(ns + op.key, { prefix: op.prefix });
        observeWrite(expected.revision, reply.revision, what);
        assert.deepEqual(reply.prev, prevExpected, what);
        break;
      }
      case "get":
        assert.deepEqual(await store.get(ns + op.key), translate(model.get(ns + op.key)), what);
        break;
      case "range": {
        const expected = model.range(ns + op.prefix, op.limit);
        const reply = await store.range(ns + op.prefix, { limit: op.limit });
        assert.deepEqual(reply.kvs, expected.kvs.map(translate), what);
        assert.equal(reply.more, expected.more, what);
        break;
      }
      case "txn": {
        const command = {
          op: "txn" as const,
          compare: op.compare.map((c) => ({ ...c, key: ns + c.key })),
          success: op.success.map(full),
          failure: op.failure.map(full),
        };
        // Reads inside the branch see the branch's own writes: translate after the write is mapped.
        const expected = apply(command);
        assert.ok(expected.ok && expected.op === "txn");
        const reply = await store.txn(command.compare, command.success, command.failure);
        assert.equal(reply.succeeded, expected.succeeded, what);
        observeWrite(expected.revision, reply.revision, what);
        const reads = expected.responses.flatMap((r) => r.op === "get" ? [translate(r.kv)] : []);
        assert.deepEqual(reply.reads, reads, what);
        break;
      }
    }
  }
  const everything = await store.range(ns);
  assert.deepEqual(everything.kvs, model.range(ns, 10_000).kvs.map(translate), "final state");
}

/**
 * Runs the state store contract as steps of the test `t`, each on a fresh
 * store from `makeStore` (closed at the end of the step, so `close` must be
 * idempotent; one step closes a store early and checks its watches stop).
 */
export async function runStateStoreContract(
  t: Deno.TestContext,
  makeStore: () => Promise<StateStore>,
  options: StateStoreContractOptions = {},
): Promise<void> {
  const leaseExpirySlackMs = options.leaseExpirySlackMs ?? 10_000;
  const deliveryMs = options.watchDeliveryTimeoutMs ?? 5_000;
  const runId = crypto.randomUUID().slice(0, 8);
  let stepNo = 0;

  const step = (name: string, body: (store: StateStore, ns: string) => Promise<void>) =>
    t.step(name, async () => {
      const ns = `contract/${runId}/${stepNo++}/`;
      const store = await makeStore();
      try {
        await body(store, ns);
      } finally {
        await store.close();
      }
    });

  await step("put and get: records carry revisions, versions and leases", async (store, ns) => {
    const key = `${ns}a`;
    assert.equal(await store.get(key), undefined);
    const first = await store.put(key, "héllo ✓");
    assert.ok(Number.isSafeInteger(first.revision) && first.revision > 0);
    assert.deepEqual(first.prev, []);
    const created: KeyValue = {
      key,
      value: "héllo ✓",
      createRevision: first.revision,
      modRevision: first.revision,
      version: 1,
      leaseId: 0,
    };
    assert.deepEqual(await store.get(key), created);
    const second = await store.put(key, "");
    assert.ok(second.revision > first.revision, "a later write gets a later revision");
    assert.deepEqual(second.prev, [created]);
    assert.deepEqual(await store.get(key, "linearizable"), {
      ...created,
      value: "",
      modRevision: second.revision,
      version: 2,
    });
    await eventually("a serializable read catches up", 5_000, async () => {
      return (await store.get(key, "serializable"))?.modRevision === second.revision;
    });
    assert.ok(["raft", "etcd"].includes(store.engine), `unknown engine ${store.engine}`);
  });

  await step(
    "revisions increase with every write and hold for unchanged reads",
    async (store, ns) => {
      let last = await currentRevision(store, ns);
      for (let i = 0; i < 20; i++) {
        const { revision } = await store.put(`${ns}k${i % 3}`, `v${i}`);
        assert.ok(revision > last, `write ${i}: revision ${revision} not after ${last}`);
        last = revision;
        assert.ok((await currentRevision(store, ns)) >= revision, "a read saw an older revision");
      }
      const noop = await store.delete(`${ns}missing`);
      assert.deepEqual(noop.prev, []);
      assert.equal(noop.revision, last, "deleting a missing key does not advance the revision");
    },
  );

  await step("range: prefix order, limit and more", async (store, ns) => {
    for (const name of ["b", "a", "c/2", "c/1", "d"]) await store.put(`${ns}r/${name}`, name);
    await store.put(`${ns}rr`, "outside the prefix");
    const all = await store.range(`${ns}r/`);
    assert.deepEqual(all.kvs.map((kv) => kv.value), ["a", "b", "c/1", "c/2", "d"]);
    assert.equal(all.more, false);
    assert.equal(all.revision, await currentRevision(store, ns));
    const firstTwo = await store.range(`${ns}r/`, { limit: 2 });
    assert.deepEqual(firstTwo.kvs.map((kv) => kv.value), ["a", "b"]);
    assert.equal(firstTwo.more, true);
    const exact = await store.range(`${ns}r/`, { limit: 5 });
    assert.equal(exact.more, false);
    const nested = await store.range(`${ns}r/c/`, { consistency: "linearizable" });
    assert.deepEqual(nested.kvs.map((kv) => kv.key), [`${ns}r/c/1`, `${ns}r/c/2`]);
    assert.deepEqual((await store.range(`${ns}none/`)).kvs, []);
    const page = await store.range(`${ns}r/`, { limit: 2, after: `${ns}r/a` });
    assert.deepEqual(page.kvs.map((kv) => kv.key), [`${ns}r/b`, `${ns}r/c/1`]);
    assert.equal(page.more, true);
    const last = await store.range(`${ns}r/`, { after: `${ns}r/c/1` });
    assert.deepEqual(last.kvs.map((kv) => kv.key), [`${ns}r/c/2`, `${ns}r/d`]);
    assert.equal(last.more, false);
  });

  await step("delete: one key or a whole prefix at one revision", async (store, ns) => {
    const a = await store.put(`${ns}p/a`, "1");
    await store.put(`${ns}p/b`, "2");
    await store.put(`${ns}p/c/d`, "3");
    await store.put(`${ns}q`, "4");
    const one = await store.delete(`${ns}p/a`);
    assert.ok(one.revision > a.revision);
    assert.deepEqual(one.prev.map((kv) => [kv.key, kv.value]), [[`${ns}p/a`, "1"]]);
    assert.equal(await store.get(`${ns}p/a`), undefined);
    const many = await store.delete(`${ns}p/`, { prefix: true });
    assert.ok(many.revision > one.revision);
    assert.deepEqual(many.prev.map((kv) => kv.key), [`${ns}p/b`, `${ns}p/c/d`]);
    assert.equal(many.deleted, 2);
    await store.put(`${ns}p/x`, "5");
    await store.put(`${ns}p/y`, "6");
    const counted = await store.delete(`${ns}p/`, { prefix: true, prevKv: false });
    assert.deepEqual([counted.deleted, counted.prev], [2, []], "a count, not the records");
    assert.deepEqual((await store.range(`${ns}p/`)).kvs, []);
    assert.equal((await store.get(`${ns}q`))?.value, "4", "a key outside the prefix survives");
    const recreated = await store.put(`${ns}p/a`, "again");
    assert.deepEqual(await store.get(`${ns}p/a`), {
      key: `${ns}p/a`,
      value: "again",
      createRevision: recreated.revision,
      modRevision: recreated.revision,
      version: 1,
      leaseId: 0,
    });
  });

  await step("txn: compare-and-swap, failure branch, reads, one revision", async (store, ns) => {
    const key = `${ns}cas`;
    const create = await store.txn(
      [{ key, target: "version", result: "equal", value: 0 }],
      [{ op: "put", key, value: "v1" }, { op: "put", key: `${ns}other`, value: "x" }],
      [{ op: "get", key }],
    );
    assert.equal(create.succeeded, true);
    assert.deepEqual(create.reads, []);
    const record = await store.get(key);
    assert.equal(record?.modRevision, create.revision);
    assert.equal((await store.get(`${ns}other`))?.modRevision, create.revision);

    const lost = await store.txn(
      [{ key, target: "version", result: "equal", value: 0 }],
      [{ op: "put", key, value: "never" }],
      [{ op: "get", key }, { op: "get", key: `${ns}missing` }],
    );
    assert.equal(lost.succeeded, false);
    assert.equal(lost.revision, create.revision, "a branch without writes keeps the revision");
    assert.deepEqual(lost.reads, [record, undefined]);

    const swapped = await store.txn(
      [
        { key, target: "modRevision", result: "equal", value: create.revision },
        { key, target: "value", result: "equal", value: "v1" },
        { key, target: "createRevision", result: "less", value: create.revision + 1 },
        { key, target: "version", result: "greater", value: 0 },
      ],
      [{ op: "put", key, value: "v2" }, { op: "get", key }],
      [],
    );
    assert.equal(swapped.succeeded, true);
    assert.ok(swapped.revision > create.revision);
    assert.equal(swapped.reads.length, 1);
    assert.equal(swapped.reads[0]?.value, "v2", "a get after a put in one branch sees the put");

    const valueOfMissing = await store.txn(
      [{ key: `${ns}missing`, target: "value", result: "notEqual", value: "anything" }],
      [],
      [],
    );
    assert.equal(valueOfMissing.succeeded, false, "a value comparison on a missing key is false");
    const stale = await store.txn(
      [{ key, target: "modRevision", result: "equal", value: create.revision }],
      [{ op: "delete", key }],
      [],
    );
    assert.equal(stale.succeeded, false, "a CAS on a stale revision fails");
    assert.equal((await store.get(key))?.value, "v2");

    const deletes = await store.txn([], [{ op: "delete", key: ns, prefix: true }], []);
    assert.equal(deletes.succeeded, true, "no comparisons: the success branch runs");
    assert.deepEqual((await store.range(ns)).kvs, []);
  });

  await step(
    "random operation sequences answer as the reference state machine",
    async (store, ns) => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(modelOp, { minLength: 1, maxLength: 12 }), async (ops) => {
          await checkAgainstModel(store, `${ns}${run++}/`, ops);
        }),
        { numRuns: options.modelRuns ?? 30 },
      );
    },
  );

  await step("txn: concurrent compare-and-swap increments lose no update", async (store, ns) => {
    const key = `${ns}counter`;
    await store.put(key, "0");
    const workers = 4;
    const incrementsEach = 5;
    const increment = async (): Promise<void> => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const current = await store.get(key);
        assert.ok(current);
        const reply = await store.txn(
          [{ key, target: "modRevision", result: "equal", value: current.modRevision }],
          [{ op: "put", key, value: String(Number(current.value) + 1) }],
          [],
        );
        if (reply.succeeded) return;
      }
      assert.fail("a compare-and-swap never succeeded in 200 attempts");
    };
    await Promise.all(Array.from({ length: workers }, async () => {
      for (let i = 0; i < incrementsEach; i++) await increment();
    }));
    const final = await store.get(key);
    assert.equal(final?.value, String(workers * incrementsEach));
    assert.equal(final?.version, workers * incrementsEach + 1);
  });

  await step("leases: attach, keep alive, revoke deletes the keys", async (store, ns) => {
    const leaseId = await store.leaseGrant(60_000);
    assert.ok(Number.isSafeInteger(leaseId) && leaseId > 0);
    const put = await store.put(`${ns}owned/a`, "1", { leaseId });
    await store.put(`${ns}owned/b`, "2", { leaseId });
    await store.put(`${ns}free`, "3");
    assert.equal((await store.get(`${ns}owned/a`))?.leaseId, leaseId);
    assert.equal(await store.leaseKeepAlive(leaseId), true);

    const detached = await store.put(`${ns}owned/b`, "2'");
    assert.ok(detached.revision > put.revision);
    assert.equal((await store.get(`${ns}owned/b`))?.leaseId, 0, "a put without lease detaches");
    await store.put(`${ns}owned/b`, "2", { leaseId });

    const before = await currentRevision(store, ns);
    await store.leaseRevoke(leaseId);
    assert.equal(await store.get(`${ns}owned/a`), undefined);
    assert.equal(await store.get(`${ns}owned/b`), undefined);
    assert.equal((await store.get(`${ns}free`))?.value, "3");
    assert.ok(await currentRevision(store, ns) > before, "revoking deletes at a new revision");
    assert.equal(await store.leaseKeepAlive(leaseId), false);
    await assertRejectsWithCode(store.put(`${ns}late`, "x", { leaseId }), "leaseNotFound");
    await assertRejectsWithCode(store.leaseRevoke(leaseId), "leaseNotFound");
    assert.equal(await store.get(`${ns}late`), undefined, "a refused put wrote nothing");
    const other = await store.leaseGrant(60_000);
    assert.notEqual(other, leaseId, "lease ids are not reused");
    await store.leaseRevoke(other);
  });

  await step("leases: an unrenewed lease expires, a renewed one lives on", async (store, ns) => {
    const ttlMs = 1_000;
    const renewEveryMs = 250;
    const watcher = new WatchRecorder();
    const handle = await store.watch({ prefix: `${ns}ephemeral` }, watcher.onEvents);
    let renewing = true;
    let renewals: Promise<boolean[]> | undefined;
    try {
      const renewed = await store.leaseGrant(ttlMs);
      const leaseId = await store.leaseGrant(ttlMs);
      const grantedAt = Date.now();
      await store.put(`${ns}kept`, "renewed", { leaseId: renewed });
      await store.put(`${ns}ephemeral`, "soon gone", { leaseId });
      assert.equal((await store.get(`${ns}ephemeral`))?.leaseId, leaseId);
      renewals = (async () => {
        const answers: boolean[] = [];
        const maxRenewals = Math.ceil((2 * (ttlMs + leaseExpirySlackMs)) / renewEveryMs) + 1;
        while (renewing && answers.length < maxRenewals) {
          answers.push(await store.leaseKeepAlive(renewed));
          await sleep(renewEveryMs);
        }
        return answers;
      })();
      await eventually("the leased key expires", ttlMs + leaseExpirySlackMs, async () => {
        return (await store.get(`${ns}ephemeral`)) === undefined;
      });
      const lifetimeMs = Date.now() - grantedAt;
      assert.ok(lifetimeMs >= ttlMs, "a lease expired before its TTL");
      const events = await watcher.waitForEvents(2, deliveryMs);
      assert.deepEqual(events.map((e) => `${e.type} ${e.kv.key}`), [
        `put ${ns}ephemeral`,
        `delete ${ns}ephemeral`,
      ]);
      assert.equal(events[1].prevKv?.value, "soon gone");
      assert.equal(await store.leaseKeepAlive(leaseId), false);
      // The renewed lease has now lived as long as the other one did; once
      // more and it has outlived any TTL that let the other expire.
      await sleep(lifetimeMs);
      assert.equal((await store.get(`${ns}kept`))?.value, "renewed", "a renewed lease expired");
      renewing = false;
      assert.ok((await renewals).every((alive) => alive), "a keep-alive found the lease gone");
      await store.leaseRevoke(renewed);
      assert.equal(await store.get(`${ns}kept`), undefined);
    } finally {
      renewing = false;
      await renewals?.catch(() => {});
      await handle.cancel();
    }
  });

  await step("watch: from now, key, prefix and pattern selectors", async (store, ns) => {
    await store.put(`${ns}svc/a/health`, "before the watch");
    const byPrefix = new WatchRecorder();
    const byKey = new WatchRecorder();
    const byPattern = new WatchRecorder();
    const handles = [
      await store.watch({ prefix: `${ns}svc/` }, byPrefix.onEvents),
      await store.watch({ key: `${ns}svc/a/health` }, byKey.onEvents),
      await store.watch({ pattern: `${ns}svc/*/health` }, byPattern.onEvents),
    ];
    try {
      const p1 = await store.put(`${ns}svc/a/health`, "up");
      const p2 = await store.put(`${ns}svc/b/load`, "7");
      const p3 = await store.put(`${ns}svc/b/health`, "down");
      await store.put(`${ns}elsewhere`, "ignored");
      const d1 = await store.delete(`${ns}svc/a/health`);
      const events = await byPrefix.waitForEvents(4, deliveryMs);
      assert.deepEqual(events.map(summary), [
        `put ${ns}svc/a/health=up @${p1.revision}`,
        `put ${ns}svc/b/load=7 @${p2.revision}`,
        `put ${ns}svc/b/health=down @${p3.revision}`,
        `delete ${ns}svc/a/health= @${d1.revision}`,
      ]);
      assert.equal(events[0].prevKv?.value, "before the watch");
      assert.equal(events[0].kv.version, 2);
      assert.equal(events[1].prevKv, null, "a put creating the key has no previous record");
      assert.equal(events[3].prevKv?.value, "up");
      assert.equal(events[3].kv.modRevision, d1.revision);
      const keyEvents = await byKey.waitForEvents(2, deliveryMs);
      assert.deepEqual(keyEvents.map((e) => e.revision), [p1.revision, d1.revision]);
      const patternEvents = await byPattern.waitForEvents(3, deliveryMs);
      assert.deepEqual(patternEvents.map((e) => e.revision), [
        p1.revision,
        p3.revision,
        d1.revision,
      ]);
      // A last write to every selector, so any stray extra event has had time to arrive.
      const fence = await store.put(`${ns}svc/a/health`, "fence");
      await byKey.waitForEvents(3, deliveryMs);
      await byPattern.waitForEvents(4, deliveryMs);
      await byPrefix.waitForEvents(5, deliveryMs);
      assert.equal(byKey.events.length, 3);
      assert.equal(byPattern.events.length, 4);
      assert.equal(byPrefix.events.length, 5);
      assert.equal(byPrefix.events[4].revision, fence.revision);
    } finally {
      for (const handle of handles) await handle.cancel();
    }
  });

  await step("watch: one transaction's events arrive together", async (store, ns) => {
    const watcher = new WatchRecorder();
    const handle = await store.watch({ prefix: ns }, watcher.onEvents);
    try {
      await store.put(`${ns}x/1`, "old");
      const txn = await store.txn([], [
        { op: "put", key: `${ns}x/2`, value: "a" },
        { op: "put", key: `${ns}x/3`, value: "b" },
        { op: "delete", key: `${ns}x/1` },
      ], []);
      await watcher.waitForEvents(4, deliveryMs);
      const last = watcher.batches.at(-1);
      assert.ok(last);
      assert.deepEqual(last.map((e) => `${e.type} ${e.kv.key} @${e.revision}`), [
        `put ${ns}x/2 @${txn.revision}`,
        `put ${ns}x/3 @${txn.revision}`,
        `delete ${ns}x/1 @${txn.revision}`,
      ]);
    } finally {
      await handle.cancel();
    }
  });

  await step(
    "watch: resumes from a revision without loss, duplication or reordering",
    async (store, ns) => {
      const writes = 60;
      const start = (await currentRevision(store, ns)) + 1;
      const writer = (async () => {
        const revisions: number[] = [];
        for (let i = 0; i < writes; i++) {
          const key = `${ns}w/${i % 7}`;
          const reply = i % 5 === 4 ? await store.delete(key) : await store.put(key, `v${i}`);
          if (reply.prev.length > 0 || i % 5 !== 4) revisions.push(reply.revision);
        }
        return revisions;
      })();
      // A watch split into consecutive pieces while the writer runs.
      const pieces: WatchEvent[][] = [];
      let next = start;
      for (let piece = 0; piece < 4; piece++) {
        const recorder = new WatchRecorder();
        const handle = await store.watch({ prefix: `${ns}w/` }, recorder.onEvents, {
          startRevision: next,
        });
        await sleep(20 * piece);
        await handle.cancel();
        const taken = recorder.events;
        assert.deepEqual(recorder.violations, [], "watch delivery invariants");
        const afterCancel = taken.length;
        await sleep(50);
        assert.equal(recorder.events.length, afterCancel, "an event arrived after cancel()");
        pieces.push(taken);
        if (taken.length > 0) next = taken[taken.length - 1].revision + 1;
      }
      const revisions = await writer;
      const tail = new WatchRecorder();
      const tailHandle = await store.watch({ prefix: `${ns}w/` }, tail.onEvents, {
        startRevision: next,
      });
      const whole = new WatchRecorder();
      const wholeHandle = await store.watch({ prefix: `${ns}w/` }, whole.onEvents, {
        startRevision: start,
      });
      try {
        await whole.waitForEvents(revisions.length, deliveryMs);
        const expected = whole.events;
        assert.deepEqual(
          expected.map((e) => e.revision),
          revisions,
          "one event per changing write",
        );
        const already = pieces.flat().length;
        await tail.waitForEvents(expected.length - already, deliveryMs);
        assert.deepEqual([...pieces.flat(), ...tail.events].map(summary), expected.map(summary));
        const later = new WatchRecorder();
        const middle = expected[Math.floor(expected.length / 2)].revision;
        const laterHandle = await store.watch({ prefix: `${ns}w/` }, later.onEvents, {
          startRevision: middle,
        });
        try {
          const fromMiddle = expected.filter((e) => e.revision >= middle);
          await later.waitForEvents(fromMiddle.length, deliveryMs);
          assert.deepEqual(later.events.map(summary), fromMiddle.map(summary));
        } finally {
          await laterHandle.cancel();
        }
      } finally {
        await tailHandle.cancel();
        await wholeHandle.cancel();
      }
    },
  );

  if (options.compact !== undefined) {
    const compact = options.compact;
    await step("watch: a compacted start revision ends the watch", async (store, ns) => {
      const old = await store.put(`${ns}c`, "1");
      const kept = await store.put(`${ns}c`, "2");
      await compact(kept.revision);
      const recorder = new WatchRecorder();
      const handle = await store.watch({ prefix: ns }, recorder.onEvents, {
        startRevision: old.revision,
        onEnd: recorder.onEnd,
      });
      try {
        await eventually("the watch ends", deliveryMs, () => recorder.ends.length > 0);
        assert.equal(recorder.ends.length, 1);
        assert.equal(recorder.ends[0].compactRevision, kept.revision);
        assert.ok(recorder.ends[0].reason.length > 0);
        assert.deepEqual(recorder.batches, [], "no delivery from a compacted revision");
        const resumed = new WatchRecorder();
        const resumedHandle = await store.watch({ prefix: ns }, resumed.onEvents, {
          startRevision: kept.revision,
          onEnd: resumed.onEnd,
        });
        try {
          const events = await resumed.waitForEvents(1, deliveryMs);
          assert.equal(events[0].kv.value, "2");
          assert.deepEqual(resumed.ends, []);
        } finally {
          await resumedHandle.cancel();
        }
      } finally {
        await handle.cancel();
      }
    });
  }

  await step("close ends the store's watches", async (store, ns) => {
    const other = await makeStore();
    try {
      const recorder = new WatchRecorder();
      await store.watch({ prefix: ns }, recorder.onEvents, { onEnd: recorder.onEnd });
      await other.put(`${ns}before`, "1");
      await recorder.waitForEvents(1, deliveryMs);
      await store.close();
      await other.put(`${ns}after`, "2");
      const fence = new WatchRecorder();
      const fenceHandle = await other.watch({ prefix: ns }, fence.onEvents, {
        startRevision: (await other.put(`${ns}fence`, "3")).revision,
      });
      await fence.waitForEvents(1, deliveryMs);
      await fenceHandle.cancel();
      assert.deepEqual(recorder.events.map((e) => e.kv.key), [`${ns}before`]);
    } finally {
      await other.close();
    }
  });

  await step("bad input is refused with typed errors and writes nothing", async (store, ns) => {
    const before = await currentRevision(store, ns);
    await assertRejectsWith(store.put("", "v"), "CommandError", { code: "emptyKey", field: "key" });
    await assertRejectsWith(store.get(""), "CommandError", { code: "emptyKey", field: "key" });
    await assertRejectsWith(store.delete(""), "CommandError", { code: "emptyKey", field: "key" });
    await assertRejectsWith(store.range(ns, { limit: 0 }), "CommandError", { field: "limit" });
    await assertRejectsWith(store.put(`${ns}k`, "v", { leaseId: -1 }), "CommandError", {
      field: "leaseId",
    });
    await assertRejectsWith(store.put(`${ns}k`, "x".repeat(1024 * 1024 + 1)), "CommandError", {
      code: "valueTooLarge",
    });
    await assertRejectsWith(store.leaseGrant(0), "CommandError", { field: "ttlMs" });
    await assertRejectsWith(store.leaseGrant(1.5), "CommandError", { field: "ttlMs" });
    await assertRejectsWith(store.leaseGrant(31 * 24 * 3600 * 1000), "CommandError", {
      field: "ttlMs",
    });
    await assertRejectsWith(store.leaseKeepAlive(0), "CommandError", { field: "leaseId" });
    await assertRejectsWith(
      store.txn([{ key: "", target: "version", result: "equal", value: 0 }], [], []),
      "CommandError",
      { field: "compare[0].key" },
    );
    await assertRejectsWith(
      store.txn([], [{ op: "put", key: `${ns}k`, value: "v" }, { op: "get", key: "" }], []),
      "CommandError",
      { field: "success[1].key" },
    );
    await assertRejectsWith(store.watch({ key: "" }, () => {}), "WatchRequestError");
    await assertRejectsWith(store.watch({ pattern: "" }, () => {}), "WatchRequestError");
    assert.equal(await currentRevision(store, ns), before, "a refused request wrote nothing");
    assert.equal(await store.get(`${ns}k`), undefined);
  });
}
