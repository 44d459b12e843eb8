import assert from "node:assert/strict";
import { etcdAvailable, parseScaleArgs, runScaleBench } from "./scale.ts";
import { formatScaleReport, type ScaleResult } from "./scale_report.ts";

Deno.test("parseScaleArgs: defaults, --keys, --node-arg, and errors that name the flag", () => {
  const defaults = parseScaleArgs([]);
  assert.deepEqual(defaults.keys, [100_000, 1_000_000]);
  assert.equal(defaults.missedWrites, 300_000, "30 % of the largest K");
  assert.deepEqual(defaults.systems, ["raft", "etcd"]);
  assert.equal(defaults.valueBytes, 256);
  const small = parseScaleArgs([
    "--keys",
    "5000,2000",
    "--systems",
    "raft",
    "--node-arg=--tick-ms=20",
    "--node-arg=--election-ticks=8",
  ]);
  assert.deepEqual(small.keys, [2_000, 5_000], "sorted");
  assert.equal(small.missedWrites, 1_500);
  assert.deepEqual(small.nodeArgs, ["--tick-ms=20", "--election-ticks=8"]);
  assert.throws(() => parseScaleArgs(["--keys", "10,x"]), /--keys: expected a positive integer/);
  assert.throws(() => parseScaleArgs(["--keys", "20000000"]), /--keys: at most/);
  assert.throws(() => parseScaleArgs(["--systems", "zk"]), /--systems: unknown system "zk"/);
  assert.throws(() => parseScaleArgs(["--missed-writes", "0"]), /--missed-writes/);
});

function fakeResult(system: string, joinError?: string): ScaleResult {
  const size = (keys: number, writeOpsPerSec: number) => ({
    keys,
    loadOpsPerSec: 1_000,
    writeOpsPerSec,
    rssMb: 300,
    dataDirMb: 150,
    liveMb: keys * 270 / (1024 * 1024),
  });
  return {
    system,
    sizes: [size(10_000, 2_000), size(100_000, 1_500)],
    freshRssMb: 100,
    restart: { ms: 1_250, elections: 0 },
    catchUp: { ms: 4_000, elections: 1 },
    missedWrites: 30_000,
    join: joinError ? { ms: NaN, elections: NaN, error: joinError } : { ms: 9_000, elections: 0 },
    compacted: false,
    dataDirAfterCompactionMb: 60,
    rssAfterDeleteMb: 130,
    allDeleted: true,
    deleteAll: { ms: 800, elections: 0 },
  };
}

Deno.test("formatScaleReport: one row per size, then the targets with each system's figures", () => {
  const report = formatScaleReport([fakeResult("ours"), fakeResult("theirs", "timed out")]);
  assert.match(report, /\| ours \| 100000 \| 1000 \| 1500 \| 75 % \| 300 \| 150\.0 \| 25\.7 \|/);
  assert.match(report, /\| restart after kill -9, to caught up \| ≤ 5 s \| 1\.3 s \| 1\.3 s \|/);
  assert.match(report, /\| elections during catch-up \| 0 \| 1 \| 1 \|/);
  assert.match(
    report,
    /\| new member \(join\) catch-up \| ≤ 60 s \| 9\.0 s \| not done \(timed out\) \|/,
  );
  assert.match(report, /\| RSS after deleting all, vs fresh \| ≤ \+20 % \| 30 % /);
  assert.match(report, /\| overwrites\/s at K vs at 10k \| ≥ 80 % \| 75 % \| 75 % \|/);
  assert.match(report, /2\.3x \(60\.0 MB, own compaction\)/);
});

Deno.test({
  name: "a small real run (2000 keys) measures every phase on our cluster, and etcd if present",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const lines: string[] = [];
    const withEtcd = await etcdAvailable();
    const { results, report } = await runScaleBench({
      keys: [2_000],
      valueBytes: 64,
      clients: 20,
      missedWrites: 500,
      measureMs: 500,
      systems: ["raft", "etcd"],
      nodeArgs: [],
    }, (line) => lines.push(line));
    assert.equal(results.length, withEtcd ? 2 : 1, lines.join("\n"));
    if (!withEtcd) assert.ok(lines.some((l) => /etcd: not on the PATH/.test(l)));
    for (const r of results) {
      const what = `${r.system}: ${lines.join("\n")}`;
      assert.deepEqual(r.sizes.map((s) => s.keys), [2_000], what);
      assert.ok(r.sizes[0].writeOpsPerSec > 0 && r.sizes[0].rssMb > 0, what);
      assert.ok(r.sizes[0].dataDirMb > 0, what);
      for (const phase of [r.restart, r.catchUp, r.join, r.deleteAll]) {
        assert.equal(phase.error, undefined, what);
        assert.ok(phase.ms > 0, what);
      }
      assert.equal(r.allDeleted, true, what);
      assert.ok(r.rssAfterDeleteMb > 0 && r.freshRssMb > 0, what);
    }
    assert.match(report, /\| safla raft x3 \| 2000 \|/);
  },
});
