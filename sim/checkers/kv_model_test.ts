import assert from "node:assert/strict";
import { checkKvHistory, type KvInput, type KvOperation, type KvOutput } from "./kv_model.ts";
import { HistoryError } from "./linearizability.ts";

function op(
  clientId: number,
  input: KvInput,
  output: KvOutput | undefined,
  invokeTime: number,
  completeTime: number | undefined,
  key = "k",
): KvOperation {
  return { clientId, key, input, output, invokeTime, completeTime };
}

const put = (c: number, value: string, t0: number, t1: number | undefined, key = "k") =>
  op(c, { op: "put", value }, t1 === undefined ? undefined : {}, t0, t1, key);
const get = (c: number, value: string | null, t0: number, t1: number, key = "k") =>
  op(c, { op: "get" }, { value }, t0, t1, key);

Deno.test("linearizable histories", async (t) => {
  await t.step("sequential put then get", () => {
    const r = checkKvHistory([put(1, "a", 0, 10), get(2, "a", 11, 20)]);
    assert.equal(r.status, "linearizable");
  });

  await t.step("a read concurrent with a write may see either value", () => {
    for (const seen of ["a", "b"]) {
      const r = checkKvHistory([put(1, "a", 0, 10), put(1, "b", 20, 40), get(2, seen, 25, 30)]);
      assert.equal(r.status, "linearizable", seen);
    }
  });

  await t.step("intervals that only touch count as concurrent", () => {
    const r = checkKvHistory([put(1, "a", 0, 10), get(2, null, 10, 20)]);
    assert.equal(r.status, "linearizable");
  });

  await t.step("indeterminate write that later appears", () => {
    const r = checkKvHistory([
      put(1, "a", 0, 10),
      put(2, "b", 15, undefined),
      get(3, "a", 20, 30),
      get(3, "b", 100, 110),
    ]);
    assert.equal(r.status, "linearizable");
  });

  await t.step("indeterminate write that never takes effect", () => {
    const r = checkKvHistory([
      put(1, "a", 0, 10),
      put(2, "b", 15, undefined),
      get(3, "a", 200, 210),
    ]);
    assert.equal(r.status, "linearizable");
  });

  await t.step("keys are independent", () => {
    const r = checkKvHistory([
      put(1, "a", 0, 10, "x"),
      put(1, "b", 0, 10, "y"),
      get(2, "a", 20, 30, "x"),
      get(2, "b", 20, 30, "y"),
      get(2, null, 20, 30, "z"),
    ]);
    assert.deepEqual(r, { status: "linearizable", keysChecked: 3, steps: r.steps });
  });

  await t.step("delete, versions and compare-and-swap follow the store", () => {
    const r = checkKvHistory([
      op(1, { op: "cas", expect: { version: 0 }, value: "a" }, { succeeded: true }, 0, 10),
      op(1, { op: "get" }, { value: "a", version: 1 }, 11, 12),
      op(1, { op: "cas", expect: { value: "zz" }, value: "b" }, { succeeded: false }, 13, 14),
      op(1, { op: "cas", expect: { value: "a" }, value: "b" }, { succeeded: true }, 15, 16),
      op(1, { op: "get" }, { value: "b", version: 2 }, 17, 18),
      op(1, { op: "delete" }, { deleted: true }, 19, 20),
      op(1, { op: "delete" }, { deleted: false }, 21, 22),
      op(1, { op: "cas", expect: { value: "b" }, value: "c" }, { succeeded: false }, 23, 24),
      op(1, { op: "put", value: "d" }, {}, 25, 26),
      op(1, { op: "append", value: "e" }, { value: "de" }, 27, 28),
      op(1, { op: "get" }, { value: "de", version: 2 }, 29, 30),
    ]);
    assert.equal(r.status, "linearizable");
  });

  await t.step("indeterminate reads constrain nothing", () => {
    const r = checkKvHistory([put(1, "a", 0, 10), op(2, { op: "get" }, undefined, 20, undefined)]);
    assert.deepEqual(r, { status: "linearizable", keysChecked: 1, steps: r.steps });
  });
});

Deno.test("non-linearizable histories", async (t) => {
  await t.step("stale read after a completed write", () => {
    const r = checkKvHistory([put(1, "a", 0, 10), put(1, "b", 20, 30), get(2, "a", 40, 50)]);
    assert.equal(r.status, "notLinearizable");
    if (r.status !== "notLinearizable") return;
    assert.equal(r.key, "k");
    assert.deepEqual(r.explanation.couldNotPlace.map((c) => c.historyIndex), [2]);
    assert.equal(r.explanation.stuckState, '"b"');
    assert.match(r.explanation.text, /#2 client 2: get\(\) -> "a" \[t=40\.\.50\]/);
  });

  await t.step("lost write: a later read sees the value before it", () => {
    const r = checkKvHistory([
      put(1, "a", 0, 10),
      put(2, "b", 5, 15),
      get(3, "b", 20, 25),
      get(3, "a", 30, 35),
    ]);
    assert.equal(r.status, "notLinearizable");
  });

  await t.step("read-your-write violation", () => {
    const r = checkKvHistory([put(1, "a", 0, 10), get(1, null, 11, 20)]);
    assert.equal(r.status, "notLinearizable");
    if (r.status !== "notLinearizable") return;
    assert.deepEqual(r.explanation.furthestLinearization.map((p) => p.historyIndex), [0]);
  });

  await t.step("indeterminate write seen, then unseen", () => {
    const r = checkKvHistory([
      put(1, "a", 0, 10),
      put(2, "b", 15, undefined),
      get(3, "b", 20, 30),
      get(3, "a", 40, 50),
    ]);
    assert.equal(r.status, "notLinearizable");
  });

  await t.step("a value nobody wrote", () => {
    const r = checkKvHistory([put(1, "a", 0, 10), get(2, "zzz", 0, 20)]);
    assert.equal(r.status, "notLinearizable");
  });

  await t.step("two compare-and-swaps from the same version both succeed", () => {
    const r = checkKvHistory([
      put(1, "a", 0, 10),
      op(2, { op: "cas", expect: { version: 1 }, value: "b" }, { succeeded: true }, 20, 30),
      op(3, { op: "cas", expect: { version: 1 }, value: "c" }, { succeeded: true }, 20, 30),
    ]);
    assert.equal(r.status, "notLinearizable");
  });

  await t.step("the witness drops reads that are not needed", () => {
    const r = checkKvHistory([
      put(1, "a", 0, 10),
      get(2, "a", 11, 12),
      get(3, "a", 11, 12),
      put(1, "b", 20, 30),
      get(2, "b", 31, 32),
      get(2, "a", 40, 50),
      get(3, "b", 41, 42),
    ]);
    assert.equal(r.status, "notLinearizable");
    if (r.status !== "notLinearizable") return;
    assert.deepEqual(r.explanation.witness, [0, 3, 5]);
  });

  await t.step("explanations point into the full multi-key history", () => {
    const r = checkKvHistory([
      put(1, "x", 0, 10, "other"),
      put(1, "a", 0, 10),
      get(2, "x", 20, 30, "other"),
      get(2, null, 20, 30),
    ]);
    assert.equal(r.status, "notLinearizable");
    if (r.status !== "notLinearizable") return;
    assert.equal(r.key, "k");
    assert.deepEqual(r.explanation.witness, [1, 3]);
    assert.match(r.explanation.text, /^key "k": /);
    assert.match(r.explanation.text, /#3 client 2: get\(\) -> absent/);
  });
});

Deno.test("the search budget yields unknown instead of hanging", () => {
  // Many concurrent writes of distinct values and reads that cannot all fit:
  // the search must explore many orders before concluding.
  const history: KvOperation[] = [];
  for (let i = 0; i < 40; i++) history.push(put(i, `v${i}`, 0, 1000));
  history.push(get(99, "v0", 1001, 1002), get(99, "v1", 1003, 1004));
  const r = checkKvHistory(history, { maxSteps: 50 });
  assert.equal(r.status, "unknown");
  if (r.status !== "unknown") return;
  assert.equal(r.key, "k");
  assert.match(r.reason, /budget of 50 steps/);
});

Deno.test("a read witness is reported whatever the search budget", () => {
  const r = checkKvHistory([put(1, "a", 0, 10), put(1, "b", 20, 30), get(2, "a", 40, 50)], {
    maxSteps: 1,
  });
  assert.equal(r.status, "notLinearizable");
});

Deno.test("malformed histories are refused", () => {
  assert.throws(() => checkKvHistory([put(1, "a", 10, 5)]), HistoryError);
  assert.throws(
    () => checkKvHistory([op(1, { op: "put", value: "a" }, {}, 0, undefined)]),
    HistoryError,
  );
  assert.throws(() => checkKvHistory([op(1, { op: "get" }, {}, 0, 1)]), /output\.value/);
  assert.throws(() => checkKvHistory([], { maxSteps: 0 }), RangeError);
});
