import assert from "node:assert/strict";
import { TickPacer } from "./timing.ts";

Deno.test("TickPacer: on-time ticks count; the first tick after a stall is skipped once", () => {
  const pacer = new TickPacer(40, 1_000);
  assert.equal(pacer.fire(1_040), true);
  // A little late (less than a period) still counts: timers jitter.
  assert.equal(pacer.fire(1_110), true);
  assert.equal(pacer.lateMs, 30);
  // Held for 400 ms: the messages that queued meanwhile go first.
  assert.equal(pacer.fire(1_550), false);
  assert.equal(pacer.lateMs, 400);
  assert.equal(pacer.fire(1_590), true);
});

Deno.test("TickPacer: a node late on every tick still ticks every other time", () => {
  const pacer = new TickPacer(40, 0);
  const counted: boolean[] = [];
  for (let i = 1; i <= 6; i++) counted.push(pacer.fire(i * 200));
  assert.deepEqual(counted, [false, true, false, true, false, true]);
});
