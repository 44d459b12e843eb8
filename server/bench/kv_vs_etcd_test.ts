import assert from "node:assert/strict";
import { formatTable, formatTimeline, type KvWriteTarget, runWriteBench } from "./kv_vs_etcd.ts";

function fakeTarget(delayMs: (client: number) => number, failEvery = 0): KvWriteTarget & {
  puts: { client: number; key: string; sizeBytes: number }[];
} {
  const puts: { client: number; key: string; sizeBytes: number }[] = [];
  return {
    name: "fake",
    puts,
    put: async (client, key, value) => {
      puts.push({ client, key, sizeBytes: value.length });
      await new Promise((resolve) => setTimeout(resolve, delayMs(client)));
      if (failEvery > 0 && puts.length % failEvery === 0) throw new Error("injected failure");
    },
    close: () => Promise.resolve(),
  };
}

Deno.test("runWriteBench", async (t) => {
  await t.step(
    "with timeline, counts every measured write in one second of the phase",
    async () => {
      const target = fakeTarget(() => 5, 7);
      const row = await runWriteBench(target, {
        clients: 3,
        valueBytes: 8,
        durationMs: 1_500,
        warmupMs: 20,
        maxOps: 100_000,
        timeline: true,
      });
      assert.equal(row.timeline?.length, 2);
      assert.deepEqual(row.timeline.map((s) => s.second), [0, 1]);
      assert.equal(row.timeline.reduce((n, s) => n + s.ops, 0), row.ops);
      assert.equal(row.timeline.reduce((n, s) => n + s.errors, 0), row.errors);
      assert.ok(row.errors > 0);
      for (const s of row.timeline) assert.ok(s.ops > 0 && s.p99Ms <= s.maxMs && s.maxMs >= 5);
      assert.match(formatTimeline(row), /\| 1 \| \d+ \| \d+ \| [\d.]+ \| [\d.]+ \|/);
    },
  );

  await t.step("stops at maxOps, measures only after warm-up, sizes values", async () => {
    const target = fakeTarget(() => 2);
    const row = await runWriteBench(target, {
      clients: 4,
      valueBytes: 256,
      durationMs: 10_000,
      warmupMs: 50,
      maxOps: 40,
    });
    assert.equal(row.ops, 40);
    assert.equal(row.errors, 0);
    assert.ok(row.elapsedMs < 5_000, `maxOps should end the phase early, took ${row.elapsedMs}`);
    assert.ok(target.puts.length > 40, "warm-up writes are issued but not counted");
    assert.ok(target.puts.every((p) => p.sizeBytes === 256));
    assert.deepEqual(new Set(target.puts.map((p) => p.client)), new Set([0, 1, 2, 3]));
    assert.ok(row.p50Ms >= 1 && row.p99Ms >= row.p50Ms);
    assert.ok(Math.abs(row.throughputOpsPerSec - row.ops / (row.elapsedMs / 1_000)) < 1e-6);
  });

  await t.step("bounded by duration; slow clients show in p99; errors counted", async () => {
    const target = fakeTarget((client) => client < 2 ? 40 : 2, 10);
    const row = await runWriteBench(target, {
      clients: 5,
      valueBytes: 8,
      durationMs: 300,
      warmupMs: 0,
      maxOps: 1_000_000,
    });
    assert.ok(Math.abs(row.elapsedMs - 300) < 1e-6, `phase length ${row.elapsedMs}`);
    assert.ok(row.errors > 0, "injected failures are counted");
    assert.equal(row.firstError, "injected failure");
    assert.ok(row.p99Ms >= 30, `p99 ${row.p99Ms} should include the slow client`);
    assert.ok(row.p50Ms < 30, `p50 ${row.p50Ms} should be a fast client's`);
    const table = formatTable([row], 8);
    assert.match(table, /\| fake \| 5 \| 8 \| \d+ \| \d+ \| \d+ \| \d+\.\d \| \d+\.\d \|/);
  });
});
