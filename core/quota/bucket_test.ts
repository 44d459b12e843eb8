import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeBucket,
  encodeBucket,
  grantSlice,
  QuotaError,
  refill,
  wantedSliceTokens,
} from "./bucket.ts";

const rate = { ratePerSec: 10, burst: 20 };

Deno.test("a fresh bucket starts full and grants what it holds", () => {
  const g = grantSlice(undefined, rate, 0, 25);
  assert.equal(g.count, 20);
  assert.deepEqual(g.state, { tokens: 0, refilledAtMs: 0 });
  assert.equal(grantSlice(g.state, rate, 0, 1).count, 0);
});

Deno.test("refill accrues with time, capped at the burst", () => {
  const empty = { tokens: 0, refilledAtMs: 1_000 };
  assert.equal(grantSlice(empty, rate, 1_500, 100).count, 5);
  assert.equal(grantSlice(empty, rate, 60_000, 100).count, 20);
  // Fractions carry over: 0.25 s adds 2.5 tokens, 2 granted, 0.5 kept.
  const g = grantSlice(empty, rate, 1_250, 100);
  assert.equal(g.count, 2);
  assert.equal(g.state.tokens, 0.5);
});

Deno.test("a clock reading behind the record refills nothing and keeps the record's clock", () => {
  const state = { tokens: 0, refilledAtMs: 5_000 };
  assert.deepEqual(refill(state, rate, 4_000), state);
  const g = grantSlice(state, rate, 4_000, 3);
  assert.equal(g.count, 0);
  assert.equal(g.state.refilledAtMs, 5_000);
});

Deno.test("property: grants never exceed burst + rate x (largest clock - first clock), whatever the order of clock readings", () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 50 }),
    fc.integer({ min: 1, max: 100 }),
    fc.array(fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 30 })), {
      minLength: 1,
      maxLength: 60,
    }),
    (ratePerSec, burst, requests) => {
      const r = { ratePerSec, burst };
      let state = undefined;
      let granted = 0;
      for (const [nowMs, wanted] of requests) {
        const g = grantSlice(state, r, nowMs, wanted);
        assert.ok(g.count <= wanted && g.state.tokens >= 0 && g.state.tokens <= burst);
        granted += g.count;
        state = g.state;
      }
      const maxClockMs = Math.max(...requests.map(([t]) => t));
      assert.ok(granted <= burst + (ratePerSec * (maxClockMs - requests[0][0])) / 1000 + 1e-9);
    },
  ));
});

Deno.test("bad rates, clock readings and records are refused with what is wrong", () => {
  assert.throws(() => grantSlice(undefined, { ratePerSec: 0, burst: 1 }, 0, 1), /ratePerSec/);
  assert.throws(() => grantSlice(undefined, { ratePerSec: 1, burst: 0.5 }, 0, 1), /burst/);
  assert.throws(() => grantSlice(undefined, rate, NaN, 1), /clock/);
  assert.throws(() => grantSlice(undefined, rate, 0, -1), /wanted/);
  assert.throws(() => decodeBucket("nope"), QuotaError);
  assert.throws(() => decodeBucket('{"tokens":-1,"refilledAtMs":0}'), /tokens/);
  const state = { tokens: 2.5, refilledAtMs: 17 };
  assert.deepEqual(decodeBucket(encodeBucket(state)), state);
});

Deno.test("a node asks for about half a slice lifetime of refill, within [1, burst]", () => {
  assert.equal(wantedSliceTokens({ ratePerSec: 10, burst: 100 }, 2_000), 10);
  assert.equal(wantedSliceTokens({ ratePerSec: 0.1, burst: 100 }, 2_000), 1);
  assert.equal(wantedSliceTokens({ ratePerSec: 1000, burst: 50 }, 2_000), 50);
});
