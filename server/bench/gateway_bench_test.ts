// Keeps the gateway benchmark from rotting: the harness runs end to end in a
// tiny configuration against our gateway and the direct baseline, and its
// arithmetic (percentiles, CPU attribution, target verdicts) is checked.
import assert from "node:assert/strict";
import fc from "fast-check";
import { median, medianPhase, percentileMs, summarisePhase } from "./gateway_stats.ts";
import { cpuPerCall } from "./gateway_cpu.ts";
import {
  compare,
  markdownReport,
  medianResult,
  roundRatioLine,
  roundRatios,
  type SystemResult,
} from "./gateway_report.ts";
import { isAlive, processTree, spawnGroup } from "./gateway_process.ts";
import { DEFAULT_BENCH_OPTIONS, parseBenchArgs, runGatewayBench } from "./gateway_vs_peers.ts";

Deno.test("percentiles are nearest-rank and bounded by the samples", async (t) => {
  await t.step("table", () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentileMs(sorted, 0.5), 5);
    assert.equal(percentileMs(sorted, 0.99), 10);
    assert.equal(percentileMs([7], 0.5), 7);
    assert.throws(() => percentileMs([], 0.5), RangeError);
    assert.throws(() => percentileMs(sorted, 0), RangeError);
  });
  await t.step("property: p50 ≤ p99 ≤ max, each one of the samples", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 1 }),
        (xs) => {
          const stats = summarisePhase(xs, 0, 1000);
          assert.ok(stats.p50Ms <= stats.p99Ms && stats.p99Ms <= stats.maxMs);
          assert.ok(xs.includes(stats.p50Ms) && xs.includes(stats.p99Ms));
          assert.equal(stats.okCalls, xs.length);
          assert.equal(stats.throughputPerSec, xs.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

Deno.test("CPU per call splits gateway from backend by the backend's arguments", () => {
  const backendArgs = ["/x/everything/index.js", "stdio"];
  const gatewayArgv = ["node", "/x/supergateway", "--stdio", "node /x/everything/index.js stdio"];
  const before = {
    clientMs: 100,
    members: [
      { pid: 1, cpuMs: 50, argv: gatewayArgv },
      { pid: 2, cpuMs: 10, argv: ["/usr/bin/node", ...backendArgs] },
    ],
  };
  const after = {
    clientMs: 300,
    members: [
      { pid: 1, cpuMs: 450, argv: gatewayArgv },
      { pid: 2, cpuMs: 110, argv: ["/usr/bin/node", ...backendArgs] },
      // A backend spawned mid-phase counts from zero.
      { pid: 3, cpuMs: 100, argv: ["node", ...backendArgs] },
    ],
  };
  assert.deepEqual(cpuPerCall(before, after, 1000, backendArgs), {
    clientUs: 200,
    gatewayUs: 400,
    backendUs: 200,
  });
  const direct = { clientMs: 0, members: [{ pid: 2, cpuMs: 0, argv: ["node", ...backendArgs] }] };
  assert.equal(cpuPerCall(direct, direct, 1, backendArgs).gatewayUs, undefined);
  assert.throws(() => cpuPerCall(before, after, 0, backendArgs), RangeError);
});

Deno.test("targets: ratio against every peer, added latency against direct stdio", () => {
  const phase = (throughputPerSec: number, p50Ms: number) => ({
    ...summarisePhase([p50Ms], 0, 1000),
    throughputPerSec,
  });
  const results: SystemResult[] = [
    { system: "direct", status: "ok", concurrent: phase(2000, 2), serial: phase(900, 0.3) },
    {
      system: "safla",
      status: "ok",
      concurrent: phase(1500, 4),
      serial: phase(700, 1.2),
      cpu: { clientUs: 400, gatewayUs: 300, backendUs: 100 },
    },
    {
      system: "supergateway",
      status: "ok",
      concurrent: phase(400, 9),
      serial: phase(200, 5),
      cpu: { clientUs: 400, gatewayUs: 1200, backendUs: 100 },
    },
    { system: "mcp-proxy", status: "unavailable", reason: "npx: offline | no cache" },
  ];
  const c = compare(results);
  assert.deepEqual(c.throughputRatio, { supergateway: 3.75 });
  assert.deepEqual(c.gatewayCpuRatio, { supergateway: 4 });
  assert.equal(c.throughputTargetMet, true);
  assert.ok(Math.abs(c.addedP50Ms! - 0.9) < 1e-9);
  assert.equal(c.addedLatencyTargetMet, true);
  const table = markdownReport(results, c, 16);
  assert.match(table, /unavailable: npx: offline \/ no cache/);
  assert.match(table, /supergateway 3\.75×/);
  assert.match(table, /peer ÷ safla: supergateway 4\.00×/);
  assert.equal(compare(results.slice(1, 2)).throughputTargetMet, undefined);
  const slower = results.map((r) =>
    r.system === "supergateway" ? { ...r, concurrent: phase(750, 9) } : r
  );
  const perRound = roundRatios([results, slower]);
  assert.deepEqual(perRound, { supergateway: [3.75, 2] }, "a peer unavailable is left out");
  assert.equal(
    roundRatioLine(perRound),
    "- throughput per round, safla ÷ peer: supergateway 3.75× / 2.00×",
  );
  const failing: SystemResult = {
    ...results[2],
    concurrent: summarisePhase([1], 3, 1000, { "HTTP 404: gone": 3 }),
  };
  assert.match(
    markdownReport([failing], compare([failing]), 16),
    /- failed calls, supergateway \(throughput\): 3× HTTP 404: gone/,
  );
});

Deno.test("auth target: JWT on against off, throughput share and added gateway CPU", () => {
  const phase = (throughputPerSec: number) => ({
    ...summarisePhase([1], 0, 1000),
    throughputPerSec,
  });
  const safla = (system: "safla" | "safla-jwt", perSec: number, gatewayUs: number) => ({
    system,
    status: "ok" as const,
    concurrent: phase(perSec),
    cpu: { clientUs: 100, gatewayUs, backendUs: 100 },
  });
  const met = compare([safla("safla", 1000, 300), safla("safla-jwt", 950, 310)]);
  assert.equal(met.authThroughputRatio, 0.95);
  assert.equal(met.authAddedCpuUs, 10);
  assert.equal(met.authTargetMet, true);
  assert.match(
    markdownReport([], met, 16),
    /JWT auth on ÷ off: throughput 0\.95× \(target ≥ 0\.9\), gateway CPU \+10\.0 µs\/call \(target ≤ \+15\): met/,
  );
  assert.equal(
    compare([safla("safla", 1000, 300), safla("safla-jwt", 950, 320)]).authTargetMet,
    false,
  );
  assert.equal(
    compare([safla("safla", 1000, 300), safla("safla-jwt", 850, 300)]).authTargetMet,
    false,
  );
  assert.equal(compare([safla("safla", 1000, 300)]).authThroughputRatio, undefined);
});

Deno.test("rounds fold into medians; a system unavailable in every round stays unavailable", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
  const run = (throughputPerSec: number, gatewayUs: number): SystemResult => ({
    system: "safla",
    status: "ok",
    concurrent: { ...summarisePhase([1], 0, 1000), throughputPerSec },
    serial: summarisePhase([throughputPerSec / 1000], 0, 1000),
    cpu: { clientUs: 1, gatewayUs, backendUs: 2 },
  });
  const folded = medianResult([
    run(100, 900),
    { system: "safla", status: "unavailable", reason: "x" },
    run(300, 500),
    run(200, 700),
  ]);
  assert.equal(folded.rounds, 3);
  assert.equal(folded.concurrent?.throughputPerSec, 200);
  assert.equal(folded.serial?.p50Ms, 0.2);
  assert.equal(folded.cpu?.gatewayUs, 700);
  const reasons = medianPhase([
    summarisePhase([1], 2, 10, { a: 2 }),
    summarisePhase([1], 3, 10, { a: 1, b: 2 }),
  ]).failureReasons;
  assert.deepEqual(reasons, { a: 3, b: 2 }, "failure reasons are summed over rounds");
  const down = medianResult([{ system: "mcp-proxy", status: "unavailable", reason: "offline" }]);
  assert.equal(down.status, "unavailable");
  assert.equal(down.reason, "offline");
  assert.throws(() => medianResult([run(1, 1), { ...run(1, 1), system: "direct" }]));
});

Deno.test("CLI flags", () => {
  assert.deepEqual(parseBenchArgs([]).options, { ...DEFAULT_BENCH_OPTIONS, profileDir: undefined });
  const { options, json } = parseBenchArgs(["--calls", "20", "--systems", "safla", "--json"]);
  assert.equal(options.calls, 20);
  assert.equal(options.rounds, 1);
  assert.equal(parseBenchArgs(["--rounds", "3"]).options.rounds, 3);
  assert.deepEqual(options.systems, ["safla"]);
  assert.equal(json, true);
  assert.throws(() => parseBenchArgs(["--systems", "nginx"]), /unknown system nginx/);
  assert.throws(() => parseBenchArgs(["--concurrency", "0"]), /--concurrency/);
  assert.equal(options.client, "lean");
  assert.equal(parseBenchArgs(["--client", "sdk"]).options.client, "sdk");
  assert.equal(parseBenchArgs(["--client", "sdk-capable"]).options.client, "sdk-capable");
  assert.throws(
    () => parseBenchArgs(["--client", "curl"]),
    /--client must be one of lean, sdk, sdk-capable/,
  );
});

Deno.test("a process tree ends whole, detached grandchildren included", async () => {
  // The second sleep leaves the group, as supergateway's detached backends do.
  const root = spawnGroup("sh", ["-c", "sleep 30 & setsid sleep 30 & wait"]);
  const deadline = Date.now() + 5_000;
  while (processTree(root.pid).length < 3 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const tree = processTree(root.pid);
  assert.equal(tree.length, 3);
  await root.close();
  assert.deepEqual(processTree(root.pid), []);
  for (const pid of tree) assert.equal(isAlive(pid), false, `${pid} survived`);
});

Deno.test({
  // runGatewayBench throws LeakedProcessError if any process of a system's tree survives.
  name: "the harness runs against our gateway and the direct baseline, leaving nothing behind",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    /** A tiny run: 20 calls, 4 in flight. */
    const tiny = {
      ...DEFAULT_BENCH_OPTIONS,
      calls: 20,
      concurrency: 4,
      warmupCalls: 4,
      serialCalls: 5,
      maxPhaseMs: 10_000,
      startTimeoutMs: 20_000,
    };
    const report = await runGatewayBench({ ...tiny, systems: ["direct", "direct-http", "safla"] });
    for (const r of report.results) {
      assert.equal(r.status, "ok", `${r.system}: ${r.reason}`);
      assert.equal(r.concurrent?.okCalls, 20);
      assert.equal(r.concurrent?.failedCalls, 0);
      assert.equal(r.serial?.okCalls, 5);
      assert.ok(r.concurrent!.throughputPerSec > 0);
      assert.ok(r.cpu !== undefined && r.cpu.clientUs >= 0);
      assert.ok(r.serialCpu !== undefined && r.serialCpu.backendUs >= 0);
    }
    const [direct, http, safla] = report.results;
    assert.equal(direct.cpu?.gatewayUs, undefined, "direct has no gateway");
    assert.equal(http.cpu?.gatewayUs, undefined, "server-everything's own HTTP has no gateway");
    assert.ok(http.cpu!.backendUs > 0, "the HTTP server's CPU counts as backend");
    assert.notEqual(safla.cpu?.gatewayUs, undefined);
    assert.equal(typeof report.comparison.addedP50Ms, "number");
    assert.equal(report.options.client, "lean", "the lean client is the default");
    // The SDK client stays available, over stdio as well as HTTP, declaring
    // nothing or roots and sampling (which server-everything asks for at once).
    for (const client of ["sdk", "sdk-capable"] as const) {
      const sdk = await runGatewayBench({ ...tiny, systems: ["direct", "safla"], client });
      for (const r of sdk.results) {
        assert.equal(r.status, "ok", `${r.system} (${client}): ${r.reason}`);
        assert.equal(r.concurrent?.okCalls, 20);
        assert.equal(r.serial?.okCalls, 5);
      }
    }
  },
});
