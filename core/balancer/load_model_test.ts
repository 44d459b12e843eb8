// A small queueing model: one slow replica among fast ones, under steady load.
// It checks the reason the latency-aware strategies exist: they keep the mean
// latency near the fast replicas' while round robin lets the slow one's queue grow.
import assert from "node:assert/strict";
import { SeededRng } from "../rng.ts";
import { StatsTable } from "./stats.ts";
import { createStrategy, type StrategyName } from "./strategy.ts";

interface Completion {
  replicaId: string;
  startedMs: number;
  doneMs: number;
}

const SERVICE_MS: Record<string, number> = { fast0: 10, fast1: 10, fast2: 10, slow: 100 };
const ARRIVAL_GAP_MS = 4;
const CALLS = 4000;

function meanLatencyMs(name: StrategyName, seed: number): number {
  const stats = new StatsTable();
  const strategy = createStrategy(name);
  const rng = new SeededRng(seed);
  const candidates = Object.keys(SERVICE_MS);
  const freeAtMs = new Map(candidates.map((id) => [id, 0]));
  const pending: Completion[] = [];
  let totalLatencyMs = 0;
  for (let call = 0; call < CALLS; call++) {
    const nowMs = call * ARRIVAL_GAP_MS;
    pending.sort((a, b) => a.doneMs - b.doneMs);
    while (pending.length > 0 && pending[0].doneMs <= nowMs) {
      const done = pending.shift()!;
      stats.onFinish(done.replicaId, done.doneMs, done.doneMs - done.startedMs, true);
    }
    const id = strategy.pick(candidates, stats, rng, { nowMs, key: `k${call}` });
    assert.ok(id !== undefined);
    stats.onStart(id, nowMs);
    // Service time varies ±50% around the replica's mean; FIFO queue per replica.
    const serviceMs = SERVICE_MS[id] * (0.5 + rng.next());
    const doneMs = Math.max(nowMs, freeAtMs.get(id)!) + serviceMs;
    freeAtMs.set(id, doneMs);
    pending.push({ replicaId: id, startedMs: nowMs, doneMs });
    totalLatencyMs += doneMs - nowMs;
  }
  return totalLatencyMs / CALLS;
}

Deno.test("under load, latency-aware strategies avoid the slow replica's queue", () => {
  const roundRobin = meanLatencyMs("round-robin", 1);
  const p2c = meanLatencyMs("p2c-peak-ewma", 1);
  const leastOutstanding = meanLatencyMs("least-outstanding", 1);
  const weighted = meanLatencyMs("weighted-response-time", 1);
  // Round robin sends a quarter of the calls to a replica that can serve a tenth
  // of them: its queue grows without bound.
  assert.ok(roundRobin > 1000, `round robin mean ${roundRobin.toFixed(1)} ms`);
  for (const [name, mean] of [["p2c", p2c], ["least-outstanding", leastOutstanding]] as const) {
    assert.ok(mean < 30, `${name} mean ${mean.toFixed(1)} ms`);
  }
  assert.ok(weighted < roundRobin / 4, `weighted mean ${weighted.toFixed(1)} ms`);
});
