import assert from "node:assert/strict";
import { DEFAULT_HOST_TUNABLES, resolveHostOptions } from "./host_options.ts";
import { DEFAULT_TIMING } from "./timing.ts";

Deno.test("host options: every tunable given as undefined keeps its default", () => {
  const resolved = resolveHostOptions({
    snapshotEveryEntries: undefined,
    maxPendingRequests: undefined,
    walSegmentSizeBytes: undefined,
    autoCompactionMode: undefined,
    autoCompactionRetention: undefined,
    autoCompactionIntervalMs: undefined,
    timing: { tickMs: undefined, electionTicks: undefined, heartbeatTicks: undefined },
  });
  assert.deepEqual(resolved, {
    snapshotEveryEntries: 100_000,
    maxPendingRequests: 10_000,
    walSegmentSizeBytes: 64 * 1024 * 1024,
    autoCompactionMode: "revision",
    autoCompactionRetention: 10_000,
    autoCompactionIntervalMs: 300_000,
    timing: { tickMs: 40, electionTicks: 6, heartbeatTicks: 1 },
  });
  assert.deepEqual(resolveHostOptions({}), { ...DEFAULT_HOST_TUNABLES, timing: DEFAULT_TIMING });
});

Deno.test("host options: given values win, one timing field leaves the others at default", () => {
  const resolved = resolveHostOptions({ walSegmentSizeBytes: 4096, timing: { tickMs: 10 } });
  assert.equal(resolved.walSegmentSizeBytes, 4096);
  assert.deepEqual(resolved.timing, { ...DEFAULT_TIMING, tickMs: 10 });
});

Deno.test("host options: an unusable value is refused with its name", () => {
  assert.throws(
    () => resolveHostOptions({ snapshotEveryEntries: 0 }),
    /snapshotEveryEntries must be an integer of at least 1, got 0/,
  );
  assert.throws(() => resolveHostOptions({ walSegmentSizeBytes: 1.5 }), /walSegmentSizeBytes/);
  assert.throws(() => resolveHostOptions({ timing: { electionTicks: 1 } }), /electionTicks/);
  assert.throws(
    () => resolveHostOptions({ autoCompactionMode: "periodic", autoCompactionRetention: 0 }),
    /auto-compaction retention/,
  );
});
