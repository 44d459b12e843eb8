import assert from "node:assert/strict";
import fc from "fast-check";
import { Scheduler } from "./scheduler.ts";

Deno.test("scheduler runs events in time order, ties by insertion order", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), (times) => {
      const s = new Scheduler();
      const fired: Array<[number, number]> = [];
      times.forEach((t, i) => s.at(t, () => fired.push([s.nowUs, i])));
      s.runUntil(1000, 10_000);
      const expected = times.map((t, i) => [t, i] as [number, number])
        .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      assert.deepEqual(fired, expected);
      assert.equal(s.nowUs, 1000);
    }),
    { numRuns: 100 },
  );
});

Deno.test("scheduler refuses the past and bounds each run", () => {
  const s = new Scheduler();
  s.at(10, () => {});
  s.at(20, () => s.after(5, () => {}));
  assert.equal(s.runUntil(100, 2), 2);
  assert.equal(s.nowUs, 20);
  assert.throws(() => s.at(19, () => {}), RangeError);
  assert.equal(s.runUntil(100, 10), 1);
  assert.equal(s.executed, 3);
});
