import assert from "node:assert/strict";
import fc from "fast-check";
import { checkKvHistory, type KvInput, type KvOperation, type KvOutput } from "./kv_model.ts";
import { bruteForceLinearizable, uniqueValueHistoryArb } from "./testing/brute_force.ts";
import { checkOperations, HistoryError, type Model, type Operation } from "./linearizability.ts";

/** A counter: `add` increments by its amount and returns the new total, `read` returns it. */
const counter: Model<number, { add?: number }, number> = {
  init: () => 0,
  step: (s, input, out) => {
    const next = s + (input.add ?? 0);
    return out === undefined || out === next ? next : undefined;
  },
  stateKey: String,
  describeState: String,
  describeOperation: (i, o) => `${i.add === undefined ? "read()" : `add(${i.add})`} -> ${o ?? "?"}`,
};

function at(
  input: { add?: number },
  output: number | undefined,
  invokeTime: number,
  completeTime: number | undefined,
): Operation<{ add?: number }, number> {
  return { clientId: invokeTime, input, output, invokeTime, completeTime };
}

Deno.test("checkOperations with a custom model", async (t) => {
  await t.step("concurrent increments in any order", () => {
    const r = checkOperations(counter, [
      at({ add: 1 }, 3, 0, 10),
      at({ add: 2 }, 2, 0, 10),
      at({}, 3, 11, 12),
    ]);
    assert.equal(r.status, "linearizable");
  });

  await t.step("an increment observed before it was invoked", () => {
    const r = checkOperations(counter, [at({}, 5, 0, 10), at({ add: 5 }, 5, 11, 20)]);
    assert.equal(r.status, "notLinearizable");
    if (r.status !== "notLinearizable") return;
    assert.deepEqual(r.explanation.furthestLinearization, []);
    assert.equal(r.explanation.stuckState, "0");
    assert.deepEqual(r.explanation.couldNotPlace.map((c) => c.historyIndex), [0]);
    assert.match(r.explanation.text, /#0 client 0: read\(\) -> 5 \[t=0\.\.10\]/);
  });

  await t.step("an indeterminate increment may land late", () => {
    const r = checkOperations(counter, [
      at({ add: 1 }, undefined, 0, undefined),
      at({}, 0, 5, 6),
      at({ add: 10 }, 10, 7, 8),
      at({}, 11, 20, 21),
    ]);
    assert.equal(r.status, "linearizable");
  });

  await t.step("an empty history is linearizable", () => {
    assert.equal(checkOperations(counter, []).status, "linearizable");
  });

  await t.step("bad options and times are refused", () => {
    assert.throws(() => checkOperations(counter, [], { maxSteps: 0 }), RangeError);
    assert.throws(() => checkOperations(counter, [at({}, 0, NaN, 1)]), HistoryError);
  });
});

// ---- Properties over KV histories built from a sequential execution ----

const VALUES = ["a", "b", "c", "d"];
const NEVER_WRITTEN = "\u0000never";

interface PlannedOp {
  key: string;
  input: KvInput;
  clientId: number;
  /** How far before its linearization point the operation is invoked. */
  leadTime: number;
  /** How far after its linearization point it completes; undefined: indeterminate. */
  lagTime: number | undefined;
}

const inputArb: fc.Arbitrary<KvInput> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<KvInput>({ op: "get" }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(...VALUES).map((value): KvInput => ({ op: "put", value })),
  },
  { weight: 1, arbitrary: fc.constant<KvInput>({ op: "delete" }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(...VALUES).map((value): KvInput => ({ op: "append", value })),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.oneof(
        fc.nat(3).map((version) => ({ version })),
        fc.constantFrom(...VALUES).map((value) => ({ value })),
      ),
      fc.constantFrom(...VALUES),
    ).map(([expect, value]): KvInput => ({ op: "cas", expect, value })),
  },
);

const planArb: fc.Arbitrary<PlannedOp[]> = fc.array(
  fc.record({
    key: fc.constantFrom("x", "y"),
    input: inputArb,
    clientId: fc.nat(4),
    leadTime: fc.nat(30),
    lagTime: fc.option(fc.nat(30), { freq: 8, nil: undefined }),
  }),
  { maxLength: 24 },
);

/**
 * Runs `plan` sequentially against a plain map (the reference), placing
 * operation k's linearization point at time 10k inside its interval, so the
 * history is linearizable by construction however the intervals overlap.
 */
function sequentialHistory(
  plan: readonly PlannedOp[],
  withVersions = true,
  uniqueValues = false,
): KvOperation[] {
  const store = new Map<string, { value: string; version: number }>();
  return plan.map((p, k) => {
    const versioned = withVersions ? p.input : withoutVersionCompare(p.input);
    const input = uniqueValues ? withUniqueValue(versioned, k) : versioned;
    const cur = store.get(p.key);
    let output: KvOutput;
    const write = (value: string) => store.set(p.key, { value, version: (cur?.version ?? 0) + 1 });
    switch (input.op) {
      case "get":
        output = withVersions
          ? { value: cur?.value ?? null, version: cur?.version ?? 0 }
          : { value: cur?.value ?? null };
        break;
      case "put":
        write(input.value);
        output = {};
        break;
      case "delete":
        output = { deleted: store.delete(p.key) };
        break;
      case "append":
        write((cur?.value ?? "") + input.value);
        output = { value: store.get(p.key)?.value };
        break;
      case "cas": {
        const e = input.expect;
        const holds = "version" in e ? (cur?.version ?? 0) === e.version : cur?.value === e.value;
        if (holds) write(input.value);
        output = { succeeded: holds };
        break;
      }
    }
    const point = 10 * k;
    const indeterminate = p.lagTime === undefined;
    return {
      clientId: p.clientId,
      key: p.key,
      input,
      output: indeterminate ? undefined : output,
      invokeTime: point - p.leadTime,
      completeTime: indeterminate ? undefined : point + (p.lagTime ?? 0),
    };
  });
}

/** Makes every written value unique (appends become puts, which the unique-value rules need). */
function withUniqueValue(input: KvInput, k: number): KvInput {
  switch (input.op) {
    case "put":
    case "append":
      return { op: "put", value: `${input.value}#${k}` };
    case "cas":
      return { ...input, value: `${input.value}#${k}` };
    default:
      return input;
  }
}

function withoutVersionCompare(input: KvInput): KvInput {
  if (input.op !== "cas" || !("version" in input.expect)) return input;
  return { ...input, expect: { value: VALUES[input.expect.version] } };
}

Deno.test("property: a sequential execution with real-time overlap is linearizable", () => {
  fc.assert(
    fc.property(planArb, fc.boolean(), (plan, withVersions) => {
      // Without versions, writes of the current value leave the register as it
      // is, which must not be mistaken for a read-only operation.
      const r = checkKvHistory(sequentialHistory(plan, withVersions));
      assert.equal(r.status, "linearizable", JSON.stringify(r));
    }),
    { numRuns: 150 },
  );
});

const longPlanArb: fc.Arbitrary<PlannedOp[]> = fc.array(
  fc.record({
    key: fc.constantFrom("x", "y"),
    input: inputArb,
    clientId: fc.nat(4),
    leadTime: fc.nat(40),
    lagTime: fc.option(fc.nat(40), { freq: 6, nil: undefined }),
  }),
  { maxLength: 80, size: "max" },
);

Deno.test("property: a sequential execution over unique values is linearizable", () => {
  // Unique values switch on pinned timeouts and hopeless-read pruning.
  fc.assert(
    fc.property(longPlanArb, fc.boolean(), (plan, withVersions) => {
      const r = checkKvHistory(sequentialHistory(plan, withVersions, true));
      assert.equal(r.status, "linearizable", JSON.stringify(r));
    }),
    { numRuns: 150 },
  );
});

Deno.test("property: indeterminate writes that never took effect keep it linearizable", () => {
  fc.assert(
    fc.property(planArb, fc.nat(300), fc.constantFrom(...VALUES), (plan, invokeTime, value) => {
      const history = sequentialHistory(plan, false);
      history.push({
        clientId: 99,
        key: "x",
        input: { op: "put", value },
        output: undefined,
        invokeTime,
        completeTime: undefined,
      });
      assert.equal(checkKvHistory(history).status, "linearizable");
    }),
    { numRuns: 100 },
  );
});

Deno.test("property: one read of a never-written value makes it non-linearizable", () => {
  fc.assert(
    fc.property(planArb, fc.nat(), fc.boolean(), (plan, pick, withVersions) => {
      const history = sequentialHistory(plan, withVersions);
      const reads = history
        .map((op, i) => ({ op, i }))
        .filter(({ op }) => op.input.op === "get" && op.output !== undefined);
      fc.pre(reads.length > 0);
      const { op, i } = reads[pick % reads.length];
      history[i] = { ...op, output: { value: NEVER_WRITTEN } };
      const r = checkKvHistory(history);
      assert.equal(r.status, "notLinearizable");
      if (r.status !== "notLinearizable") return;
      assert.equal(r.key, op.key);
      assert.ok(r.explanation.witness.includes(i), "the witness keeps the bad read");
      assert.ok(r.explanation.couldNotPlace.length > 0);
    }),
    { numRuns: 150 },
  );
});

const randomOutputOpArb: fc.Arbitrary<KvOperation> = fc.record({
  clientId: fc.nat(3),
  key: fc.constant("k"),
  input: inputArb,
  value: fc.constantFrom<string | null>(null, ...VALUES.slice(0, 2), "ab"),
  version: fc.option(fc.nat(3), { nil: undefined }),
  succeeded: fc.boolean(),
  invokeTime: fc.nat(40),
  durationTime: fc.option(fc.nat(40), { freq: 5, nil: undefined }),
}).map((r) => {
  const output: KvOutput = r.input.op === "get"
    ? (r.version === undefined ? { value: r.value } : { value: r.value, version: r.version })
    : r.input.op === "cas"
    ? { succeeded: r.succeeded }
    : r.input.op === "delete"
    ? { deleted: r.succeeded }
    : {};
  const indeterminate = r.durationTime === undefined;
  return {
    clientId: r.clientId,
    key: r.key,
    input: r.input,
    output: indeterminate ? undefined : output,
    invokeTime: r.invokeTime,
    completeTime: indeterminate ? undefined : r.invokeTime + (r.durationTime ?? 0),
  };
});

Deno.test("property: the search agrees with brute force on small random histories", () => {
  let violations = 0;
  fc.assert(
    fc.property(fc.array(randomOutputOpArb, { maxLength: 8 }), (history) => {
      const expected = bruteForceLinearizable(history);
      const r = checkKvHistory(history);
      if (!expected) violations++;
      assert.equal(r.status, expected ? "linearizable" : "notLinearizable");
    }),
    { numRuns: 600 },
  );
  assert.ok(violations > 20, `too few non-linearizable samples (${violations}) to mean much`);
});

Deno.test("property: the search agrees with brute force on small unique-value histories", () => {
  let violations = 0;
  fc.assert(
    fc.property(uniqueValueHistoryArb, (history) => {
      const expected = bruteForceLinearizable(history);
      if (!expected) violations++;
      assert.equal(checkKvHistory(history).status, expected ? "linearizable" : "notLinearizable");
    }),
    { numRuns: 500 },
  );
  assert.ok(violations > 50, `too few non-linearizable samples (${violations})`);
});
