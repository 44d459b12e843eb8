import assert from "node:assert/strict";
import { checkQuota } from "./checker.ts";
import { quotaPartition } from "./scenario.ts";

const NO_VIOLATIONS = {
  safety: 0,
  overGranted: 0,
  unbackedAdmissions: 0,
  overAdmitted: 0,
  starvedAfterHeal: 0,
};

Deno.test("quota-partition: calls admitted cluster-wide stay within refill + outstanding slices under partitions and leader changes", () => {
  for (const seed of [1, 2, 3, 4]) {
    const f = quotaPartition(seed);
    assert.deepEqual(f.violations, NO_VIOLATIONS, `seed ${seed}: ${JSON.stringify(f)}`);
    assert.ok(
      f.faults.leaderChanges >= 2,
      `seed ${seed}: leader changes ${f.faults.leaderChanges}`,
    );
    // The load is many times the quota, so the quota (not the load) is what admits.
    assert.ok(f.calls.offered > 5 * f.budgetTokens);
    assert.ok(f.calls.admitted <= f.budgetTokens, `seed ${seed}`);
    assert.ok(f.calls.admitted > f.budgetTokens / 2, `seed ${seed}: quota starved`);
    // One replicated write per slice, several calls per slice: no consensus per call.
    assert.ok(f.slices * 4 < f.calls.admitted, `seed ${seed}: ${f.slices} slices`);
  }
});

Deno.test("quota-partition catches grants written without their compare-and-swap", () => {
  const f = quotaPartition(1, { bugs: { blindGrant: true } });
  assert.ok(f.violations.overGranted > 0, JSON.stringify(f.check));
  assert.ok(f.violations.overAdmitted > 0);
});

Deno.test("quota-partition catches a node that admits calls while cut off from the leader", () => {
  const f = quotaPartition(2, { bugs: { failOpenWhenCutOff: true } });
  assert.ok(f.violations.unbackedAdmissions > 0, JSON.stringify(f.check));
  assert.ok(f.violations.overAdmitted > 0);
});

Deno.test("quota-partition replays exactly from its seed", () => {
  assert.deepEqual(quotaPartition(5), quotaPartition(5));
});

Deno.test("the quota checker: a burst, refill and an outstanding slice are allowed, one call more is not", () => {
  const bounds = { ratePerSec: 10, burst: 5, sliceTtlUs: 1_000_000, clockSpreadUs: 0 };
  const grant = (proposedUs: number, count: number) => ({
    node: "n1",
    proposedUs,
    receivedUs: proposedUs,
    count,
    expiresUs: proposedUs + bounds.sliceTtlUs,
  });
  const calls = (n: number, atUs: number) =>
    Array.from({ length: n }, () => ({ node: "n1", timeUs: atUs }));
  // 5 (burst) + 1 (fractional carry) at 0, then 5 each half second of refill.
  const ok = checkQuota([grant(0, 6), grant(500_000, 5), grant(1_000_000, 5)], [
    ...calls(6, 0),
    ...calls(5, 500_000),
    ...calls(5, 1_000_000),
  ], bounds);
  assert.deepEqual([ok.overGranted, ok.unbackedAdmissions, ok.overAdmitted], [0, 0, 0]);
  assert.ok(checkQuota([grant(0, 6), grant(1, 6)], calls(12, 2), bounds).overGranted > 0);
  const over = checkQuota([grant(0, 6)], calls(13, 1), bounds);
  assert.deepEqual([over.overGranted, over.overAdmitted], [0, 1]);
  const unbacked = checkQuota([grant(0, 2)], [...calls(2, 0), ...calls(1, 1_500_000)], bounds);
  assert.equal(unbacked.unbackedAdmissions, 1);
});
