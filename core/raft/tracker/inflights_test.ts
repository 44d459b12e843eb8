import assert from "node:assert/strict";
import fc from "fast-check";
import { Inflights, InflightsError } from "./inflights.ts";

Deno.test("Inflights fills by count, frees in order, wraps around", () => {
  const window = new Inflights(4, 0);
  for (const index of [1, 2, 3]) window.add(index, 10);
  assert.equal(window.full(), false);
  window.add(4, 10);
  assert.equal(window.full(), true);
  assert.throws(() => window.add(5, 10), InflightsError);
  window.freeLE(2);
  assert.deepEqual(window.indices(), [3, 4]);
  assert.equal(window.bytes, 20);
  // Wrap around the ring.
  window.add(5, 1);
  window.add(6, 1);
  assert.deepEqual(window.indices(), [3, 4, 5, 6]);
  assert.equal(window.full(), true);
  window.freeLE(5);
  assert.deepEqual(window.indices(), [6]);
  assert.equal(window.bytes, 1);
  window.freeLE(100);
  assert.equal(window.count, 0);
  assert.equal(window.bytes, 0);
});

Deno.test("Inflights fills by bytes when maxBytes is set", () => {
  const window = new Inflights(10, 100);
  window.add(1, 60);
  assert.equal(window.full(), false);
  window.add(2, 40);
  assert.equal(window.full(), true);
  window.freeLE(1);
  assert.equal(window.full(), false);
  // A single oversized message is allowed when the window has room; it then fills it.
  const big = new Inflights(10, 100);
  big.add(1, 500);
  assert.equal(big.full(), true);
});

Deno.test("Inflights.freeLE below the oldest index frees nothing", () => {
  const window = new Inflights(4, 0);
  window.add(5, 1);
  window.add(7, 1);
  window.freeLE(4);
  assert.deepEqual(window.indices(), [5, 7]);
  window.freeLE(6);
  assert.deepEqual(window.indices(), [7]);
  new Inflights(2, 0).freeLE(10);
});

Deno.test("Inflights asserts on misuse", async (t) => {
  await t.step("bad capacity", () => {
    assert.throws(() => new Inflights(0, 0), InflightsError);
    assert.throws(() => new Inflights(1.5, 0), InflightsError);
  });
  await t.step("bad maxBytes", () => assert.throws(() => new Inflights(1, -1), InflightsError));
  await t.step("non-increasing index", () => {
    const window = new Inflights(4, 0);
    window.add(3, 1);
    assert.throws(() => window.add(3, 1), /must exceed the last in-flight index 3/);
    assert.throws(() => window.add(2, 1), InflightsError);
  });
  await t.step("bad index or size", () => {
    const window = new Inflights(4, 0);
    assert.throws(() => window.add(-1, 1), InflightsError);
    assert.throws(() => window.add(1, -1), InflightsError);
    assert.throws(() => window.add(1, 0.5), InflightsError);
  });
  await t.step("full", () => {
    const window = new Inflights(1, 0);
    window.add(1, 1);
    assert.throws(() => window.add(2, 1), /window full \(1\/1 messages/);
  });
});

Deno.test("Inflights.reset and clone", () => {
  const window = new Inflights(3, 0);
  window.add(1, 5);
  window.add(2, 5);
  const copy = window.clone();
  window.reset();
  assert.equal(window.count, 0);
  assert.equal(window.bytes, 0);
  assert.deepEqual(copy.indices(), [1, 2]);
  assert.equal(copy.bytes, 10);
  copy.add(3, 1);
  assert.equal(copy.full(), true);
  assert.equal(window.full(), false);
  window.add(1, 1);
  assert.deepEqual(window.indices(), [1]);
});

type Op = { kind: "add"; gap: number; sizeBytes: number } | { kind: "free"; back: number } | {
  kind: "reset";
};

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("add" as const),
      gap: fc.integer({ min: 1, max: 3 }),
      sizeBytes: fc.nat({ max: 50 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("free" as const), back: fc.nat({ max: 6 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reset" as const) }) },
);

Deno.test("property: Inflights behaves like a bounded FIFO and never exceeds its bounds", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 200 })),
      fc.array(arbOp, { maxLength: 80 }),
      (capacity, maxBytes, ops) => {
        const window = new Inflights(capacity, maxBytes);
        let model: Array<[number, number]> = [];
        let lastIndex = 0;
        for (const op of ops) {
          if (op.kind === "add") {
            const modelBytes = model.reduce((sum, [, size]) => sum + size, 0);
            const modelFull = model.length === capacity || (maxBytes > 0 && modelBytes >= maxBytes);
            assert.equal(window.full(), modelFull);
            if (modelFull) {
              assert.throws(() => window.add(lastIndex + op.gap, op.sizeBytes), InflightsError);
              continue;
            }
            lastIndex += op.gap;
            window.add(lastIndex, op.sizeBytes);
            model.push([lastIndex, op.sizeBytes]);
          } else if (op.kind === "free") {
            const upTo = Math.max(0, lastIndex - op.back);
            window.freeLE(upTo);
            model = model.filter(([index]) => index > upTo);
          } else {
            window.reset();
            model = [];
          }
          assert.deepEqual(window.indices(), model.map(([index]) => index));
          assert.equal(window.count, model.length);
          assert.equal(window.bytes, model.reduce((sum, [, size]) => sum + size, 0));
          assert.ok(window.count <= capacity);
          // Bytes may exceed maxBytes by at most the last message added.
          if (maxBytes > 0 && window.count > 0) {
            const withoutLast = window.bytes - model[model.length - 1][1];
            assert.ok(withoutLast < maxBytes);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
