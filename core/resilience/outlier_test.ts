import assert from "node:assert/strict";
import fc from "fast-check";
import { OutlierDetector, type OutlierEvent } from "./outlier.ts";

function failTimes(d: OutlierDetector, id: string, times: number, nowMs: number) {
  let last: OutlierEvent | undefined;
  for (let i = 0; i < times; i++) last = d.onResult(id, false, nowMs) ?? last;
  return last;
}

Deno.test("OutlierDetector", async (t) => {
  await t.step("an option given as undefined keeps its default (5 consecutive errors)", () => {
    const d = new OutlierDetector({ consecutiveErrors: undefined, baseEjectionMs: 1000 });
    d.setReplicas(["a", "b", "c"]);
    assert.equal(failTimes(d, "a", 4, 0), undefined);
    assert.equal(d.onResult("a", false, 0)?.kind, "ejected");
  });

  await t.step("ejects after consecutive errors; a success resets the streak", () => {
    const d = new OutlierDetector({ consecutiveErrors: 3, baseEjectionMs: 1000 });
    d.setReplicas(["a", "b", "c"]);
    assert.equal(failTimes(d, "a", 2, 0), undefined);
    assert.equal(d.onResult("a", true, 0), undefined);
    assert.equal(failTimes(d, "a", 2, 0), undefined);
    assert.deepEqual(d.onResult("a", false, 5), {
      kind: "ejected",
      replicaId: "a",
      reason: "consecutive-errors",
      untilMs: 1005,
      ejectionCount: 1,
    });
    assert.equal(d.isEjected("a", 1004), true);
    assert.equal(d.isEjected("a", 1005), false);
    assert.deepEqual(d.ejectedIds(10), ["a"]);
  });

  await t.step("results for ejected or unknown replicas are ignored", () => {
    const d = new OutlierDetector({ consecutiveErrors: 2, baseEjectionMs: 1000 });
    d.setReplicas(["a", "b", "c"]);
    failTimes(d, "a", 2, 0);
    assert.equal(failTimes(d, "a", 5, 10), undefined, "in-flight failures during ejection");
    assert.equal(d.onResult("zz", false, 10), undefined);
    // right after expiry one error is not enough to eject again
    assert.equal(d.onResult("a", false, 1000), undefined);
  });

  await t.step("ejection time grows with each ejection, capped, and is forgiven", () => {
    const d = new OutlierDetector({
      consecutiveErrors: 1,
      baseEjectionMs: 100,
      maxEjectionMs: 250,
    });
    d.setReplicas(["a", "b"]);
    const durations: number[] = [];
    let nowMs = 0;
    for (let i = 0; i < 4; i++) {
      const event = d.onResult("a", false, nowMs);
      assert.ok(event?.kind === "ejected");
      durations.push(event.untilMs - nowMs);
      nowMs = event.untilMs;
      assert.deepEqual(d.evaluate(nowMs), [{ kind: "returned", replicaId: "a", atMs: nowMs }]);
    }
    assert.deepEqual(durations, [100, 200, 250, 250]);
    // Four clean intervals forgive all four ejections.
    for (let i = 1; i <= 5; i++) d.evaluate(nowMs + i);
    const event = d.onResult("a", false, nowMs + 10);
    assert.ok(event?.kind === "ejected");
    assert.equal(event.ejectionCount, 1);
  });

  await t.step("never ejects beyond the max percentage, and never the whole set", () => {
    const d = new OutlierDetector({ consecutiveErrors: 1, maxEjectionPercent: 50 });
    d.setReplicas(["a", "b", "c", "d"]);
    assert.ok(d.onResult("a", false, 0));
    assert.ok(d.onResult("b", false, 0));
    assert.equal(d.onResult("c", false, 0), undefined, "cap of 2 of 4 reached");
    const all = new OutlierDetector({ consecutiveErrors: 1, maxEjectionPercent: 100 });
    all.setReplicas(["x"]);
    assert.equal(all.onResult("x", false, 0), undefined, "a lone replica is never ejected");
    assert.equal(all.maxEjected(3), 2);
    assert.equal(all.maxEjected(0), 0);
    assert.equal(d.maxEjected(3), 1);
  });

  await t.step("error-rate outliers relative to the set are ejected at the sweep", () => {
    const d = new OutlierDetector({
      consecutiveErrors: 1000,
      minimumCallsForRate: 10,
      minimumReplicasForRate: 3,
      baseEjectionMs: 500,
    });
    const ids = ["a", "b", "c", "d", "e"];
    d.setReplicas(ids);
    for (const id of ids) {
      for (let i = 0; i < 20; i++) d.onResult(id, id === "e" ? i % 2 === 0 : i !== 0, 0);
    }
    // rates: a–d 5%, e 50%
    assert.deepEqual(d.evaluate(100), [{
      kind: "ejected",
      replicaId: "e",
      reason: "error-rate",
      untilMs: 600,
      ejectionCount: 1,
    }]);
    // A new interval starts: nothing to judge yet.
    assert.deepEqual(d.evaluate(200), []);
  });

  await t.step("a fault shared by the whole set ejects nobody by rate", () => {
    const d = new OutlierDetector({ consecutiveErrors: 1000, minimumCallsForRate: 10 });
    d.setReplicas(["a", "b", "c", "d"]);
    for (const id of ["a", "b", "c", "d"]) {
      for (let i = 0; i < 10; i++) d.onResult(id, i % 2 === 0, 0);
    }
    assert.deepEqual(d.evaluate(1), []);
  });

  await t.step("too few replicas with enough calls: no rate judgement", () => {
    const d = new OutlierDetector({ consecutiveErrors: 1000, minimumCallsForRate: 10 });
    d.setReplicas(["a", "b", "c"]);
    for (let i = 0; i < 10; i++) {
      d.onResult("a", true, 0);
      d.onResult("b", false, 0);
    }
    assert.deepEqual(d.evaluate(1), []);
  });

  await t.step("setReplicas forgets departed replicas", () => {
    const d = new OutlierDetector({ consecutiveErrors: 1 });
    d.setReplicas(["a", "b", "c"]);
    d.onResult("a", false, 0);
    d.setReplicas(["b", "c"]);
    assert.equal(d.isEjected("a", 1), false);
    assert.deepEqual(d.ejectedIds(1), []);
  });

  await t.step("rejects bad options and time", () => {
    assert.throws(() => new OutlierDetector({ consecutiveErrors: 0 }), RangeError);
    assert.throws(() => new OutlierDetector({ maxEjectionPercent: 101 }), RangeError);
    assert.throws(
      () => new OutlierDetector({ baseEjectionMs: 10, maxEjectionMs: 5 }),
      RangeError,
    );
    assert.throws(() => new OutlierDetector().evaluate(NaN), RangeError);
  });
});

Deno.test("OutlierDetector property: never ejects more than the max percentage", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 0, max: 100 }),
      fc.integer({ min: 1, max: 4 }),
      fc.array(
        fc.record({
          replica: fc.nat(),
          ok: fc.boolean(),
          gapMs: fc.integer({ min: 0, max: 3000 }),
          sweep: fc.boolean(),
        }),
        { maxLength: 300 },
      ),
      (n, maxEjectionPercent, consecutiveErrors, events) => {
        const d = new OutlierDetector({
          consecutiveErrors,
          maxEjectionPercent,
          baseEjectionMs: 2000,
          maxEjectionMs: 10_000,
          minimumCallsForRate: 3,
          minimumReplicasForRate: 2,
          errorRateStdevFactor: 0.5,
          minimumErrorRate: 0,
        });
        const ids = Array.from({ length: n }, (_, i) => `r${i}`);
        d.setReplicas(ids);
        const cap = Math.min(Math.floor((n * maxEjectionPercent) / 100), n - 1);
        let nowMs = 0;
        for (const e of events) {
          nowMs += e.gapMs;
          if (e.sweep) d.evaluate(nowMs);
          else d.onResult(ids[e.replica % n], e.ok, nowMs);
          const ejected = d.ejectedIds(nowMs).length;
          assert.ok(ejected <= cap, `${ejected} ejected of ${n}, cap ${cap}`);
          assert.ok(ejected < n || n === 0);
        }
      },
    ),
    { numRuns: 300 },
  );
});
