import assert from "node:assert/strict";
import { Wallet } from "./wallet.ts";

Deno.test("a wallet admits exactly the tokens of its live slices", () => {
  const w = new Wallet({ lowWaterTokens: 0 });
  assert.equal(w.admit(0), false);
  w.add(3, 100);
  assert.deepEqual([w.admit(1), w.admit(2), w.admit(3), w.admit(4)], [true, true, true, false]);
});

Deno.test("an expired slice is void, the soonest-expiring is spent first", () => {
  const w = new Wallet({ lowWaterTokens: 0 });
  w.add(5, 1_000);
  w.add(1, 500);
  assert.ok(w.admit(0));
  assert.equal(w.available(0), 5);
  assert.equal(w.available(999), 5);
  assert.equal(w.available(1_000), 0);
  assert.equal(w.admit(1_000), false);
});

Deno.test("the wallet wants a refill at its low-water mark, before it runs dry", () => {
  const w = new Wallet({ lowWaterTokens: 2 });
  assert.ok(w.wantsRefill(0));
  w.add(4, 100);
  assert.equal(w.wantsRefill(0), false);
  w.admit(0);
  w.admit(0);
  assert.ok(w.wantsRefill(0));
});

Deno.test("a wallet holds a bounded number of slices", () => {
  const w = new Wallet({ lowWaterTokens: 0, maxSlices: 2 });
  assert.ok(w.add(1, 10) && w.add(1, 10));
  assert.equal(w.add(1, 10), false);
  assert.equal(w.available(0), 2);
  assert.throws(() => w.add(-1, 10), RangeError);
});
