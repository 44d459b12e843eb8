import assert from "node:assert/strict";
import fc from "fast-check";
import { checkKvHistory, type KvInput, type KvOperation, type KvOutput } from "./kv_model.ts";
import { findReadViolation } from "./kv_read_witness.ts";
import { bruteForceLinearizable, uniqueValueHistoryArb } from "./testing/brute_force.ts";

function op(
  input: KvInput,
  output: KvOutput | undefined,
  invokeTime: number,
  completeTime: number | undefined,
): KvOperation {
  return { clientId: invokeTime, key: "k", input, output, invokeTime, completeTime };
}
const put = (value: string, t0: number, t1?: number) =>
  op({ op: "put", value }, t1 === undefined ? undefined : {}, t0, t1);
const get = (value: string | null, t0: number, t1: number) => op({ op: "get" }, { value }, t0, t1);

Deno.test("findReadViolation", async (t) => {
  await t.step("a stale read: a later write completed in between", () => {
    const ops = [put("a", 0, 10), put("b", 20, 30), get("a", 40, 50)];
    assert.deepEqual(findReadViolation(ops)?.witness, [0, 1, 2]);
  });

  await t.step("the overwriting write is known to have happened because it was read", () => {
    const ops = [put("a", 0, 10), put("b", 20), get("b", 25, 30), get("a", 40, 50)];
    assert.deepEqual(findReadViolation(ops)?.witness, [0, 1, 2, 3]);
  });

  await t.step("a delete in between", () => {
    const ops = [
      put("a", 0, 10),
      op({ op: "delete" }, { deleted: true }, 20, 30),
      get("a", 40, 50),
    ];
    assert.deepEqual(findReadViolation(ops)?.witness, [0, 1, 2]);
  });

  await t.step("a failed compare-and-swap is no write", () => {
    const failed = op(
      { op: "cas", expect: { version: 9 }, value: "b" },
      { succeeded: false },
      20,
      30,
    );
    assert.equal(findReadViolation([put("a", 0, 10), failed, get("a", 40, 50)]), undefined);
    const won = op({ op: "cas", expect: { version: 1 }, value: "b" }, { succeeded: true }, 20, 30);
    assert.deepEqual(findReadViolation([put("a", 0, 10), won, get("a", 40, 50)])?.witness, [
      0,
      1,
      2,
    ]);
  });

  await t.step("a value never written, and a read from the future", () => {
    assert.deepEqual(findReadViolation([put("a", 0, 10), get("zz", 20, 30)])?.witness, [1]);
    assert.deepEqual(findReadViolation([get("a", 0, 10), put("a", 20, 30)])?.witness, [0, 1]);
  });

  await t.step("one value seen at two versions (a write applied twice)", () => {
    const getAt = (value: string, version: number, t0: number, t1: number) =>
      op({ op: "get" }, { value, version }, t0, t1);
    const ops = [put("a", 0, 10), getAt("a", 1, 11, 12), getAt("a", 2, 13, 14)];
    const found = findReadViolation(ops);
    assert.equal(found?.kind, "versionChanged");
    assert.deepEqual(found?.witness, [0, 1, 2]);
    assert.equal(
      findReadViolation([put("a", 0, 10), getAt("a", 1, 11, 12), getAt("a", 1, 13, 14)]),
      undefined,
    );
    const r = checkKvHistory(ops);
    assert.equal(r.status, "notLinearizable");
    if (r.status === "notLinearizable") {
      assert.match(r.explanation.text, /one value read at two versions:\n {2}#1 .*\n {2}#2 /);
    }
  });

  await t.step("overlaps leave room for an order, so nothing is claimed", () => {
    assert.equal(
      findReadViolation([put("a", 0, 10), put("b", 5, 30), get("a", 25, 50)]),
      undefined,
    );
    assert.equal(findReadViolation([put("a", 0, 10), put("b", 20), get("a", 40, 50)]), undefined);
    // Touching intervals count as concurrent, at either end.
    assert.equal(
      findReadViolation([put("a", 0, 10), put("b", 10, 30), get("a", 40, 50)]),
      undefined,
    );
    assert.equal(
      findReadViolation([put("a", 0, 10), put("b", 20, 40), get("a", 40, 50)]),
      undefined,
    );
  });

  await t.step("repeated values and appends are left to the search", () => {
    assert.equal(findReadViolation([put("a", 0, 1), put("b", 2, 3), put("a", 4, 5)]), undefined);
    const append = op({ op: "append", value: "x" }, {}, 0, 1);
    assert.equal(findReadViolation([append, get("zz", 2, 3)]), undefined);
  });

  await t.step("checkKvHistory explains each kind in words", () => {
    const explain = (history: KvOperation[]): string => {
      const r = checkKvHistory(history);
      assert.equal(r.status, "notLinearizable");
      return r.status === "notLinearizable" ? r.explanation.text : "";
    };
    const stale = explain([put("a", 0, 10), put("b", 20), get("b", 25, 30), get("a", 40, 50)]);
    assert.equal(
      stale,
      [
        'key "k": not linearizable: a stale read:',
        '  #3 client 40: get() -> "a" [t=40..50]',
        'returned "a", which only',
        '  #0 client 0: put("a") [t=0..10]',
        "writes (in effect by t=10), but",
        '  #1 client 20: put("b") -> ? [t=20.., indeterminate]',
        'was invoked after that and wrote "b" (in effect by t=30, when #2 read it, ' +
        "before the read was invoked)",
      ].join("\n"),
    );
    assert.match(
      explain([get("zz", 0, 10)]),
      /a read of a value that no operation writes:\n {2}#0 /,
    );
    assert.match(
      explain([get("a", 0, 10), put("a", 20, 30)]),
      /a read from the future:\n {2}#0 .*\nreturned "a", which only\n {2}#1 .*\nwrites, invoked after/,
    );
  });

  await t.step("checkKvHistory reports the witness with history positions", () => {
    const history = [
      { ...put("x", 0, 5), key: "other" },
      put("a", 0, 10),
      get("a", 11, 12),
      put("b", 20, 30),
      get("b", 31, 32),
      get("a", 40, 50),
    ];
    const r = checkKvHistory(history);
    assert.equal(r.status, "notLinearizable");
    if (r.status !== "notLinearizable") return;
    assert.deepEqual(r.explanation.witness, [1, 3, 5]);
    assert.match(r.explanation.text, /#5 client 40: get\(\) -> "a" \[t=40\.\.50\]/);
  });
});

Deno.test("property: a read witness is never claimed for a linearizable history", () => {
  let found = 0;
  fc.assert(
    fc.property(uniqueValueHistoryArb, (history) => {
      const witness = findReadViolation(history)?.witness;
      if (witness === undefined) return;
      found++;
      assert.equal(bruteForceLinearizable(history), false);
      assert.equal(bruteForceLinearizable(witness.map((k) => history[k])), false);
    }),
    { numRuns: 500 },
  );
  assert.ok(found > 50, `too few witnesses (${found}) for the property to mean much`);
});
