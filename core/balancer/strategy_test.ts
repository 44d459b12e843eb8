import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "../rng.ts";
import { selectCandidates } from "./candidates.ts";
import { StatsTable } from "./stats.ts";
import {
  createStrategy,
  isStrategyName,
  STRATEGY_NAMES,
  UnknownStrategyError,
} from "./strategy.ts";

Deno.test("strategy registry", async (t) => {
  await t.step("creates every named strategy under its own name", () => {
    for (const name of STRATEGY_NAMES) {
      assert.equal(createStrategy(name).name, name);
      assert.ok(isStrategyName(name));
    }
  });

  await t.step("an unknown name fails with a typed error listing the valid ones", () => {
    assert.equal(isStrategyName("random"), false);
    assert.throws(
      () => createStrategy("least-conn"),
      (e: unknown) =>
        e instanceof UnknownStrategyError && e.strategy === "least-conn" &&
        e.message.includes('"least-conn"') && e.message.includes("p2c-peak-ewma"),
    );
  });

  await t.step("property: every strategy returns a candidate, or undefined for none", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STRATEGY_NAMES),
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 16 }),
        fc.array(
          fc.record({ replica: fc.nat(), latencyMs: fc.nat(5000), ok: fc.boolean() }),
          { maxLength: 30 },
        ),
        fc.option(fc.string(), { nil: undefined }),
        fc.integer(),
        (name, candidates, events, key, seed) => {
          const stats = new StatsTable();
          let nowMs = 0;
          for (const e of events) {
            if (candidates.length === 0) break;
            const id = candidates[e.replica % candidates.length];
            nowMs += 10;
            stats.onStart(id, nowMs);
            if (e.ok || e.latencyMs % 2 === 0) stats.onFinish(id, nowMs, e.latencyMs, e.ok);
          }
          const strategy = createStrategy(name);
          const rng = new SeededRng(seed);
          for (let i = 0; i < 5; i++) {
            const id = strategy.pick(candidates, stats, rng, { key, nowMs });
            if (candidates.length === 0) assert.equal(id, undefined);
            else assert.ok(id !== undefined && candidates.includes(id), `${name} picked ${id}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

Deno.test("every strategy replays exactly from the same seed (simulation determinism)", () => {
  const candidates = Array.from({ length: 9 }, (_, i) => `r${i}`);
  const run = (name: (typeof STRATEGY_NAMES)[number], seed: number) => {
    const stats = new StatsTable();
    const strategy = createStrategy(name);
    const rng = new SeededRng(seed);
    const picks: (string | undefined)[] = [];
    for (let i = 0; i < 200; i++) {
      const id = strategy.pick(candidates, stats, rng, { nowMs: i, key: `s${i % 7}` });
      picks.push(id);
      if (id === undefined) continue;
      stats.onStart(id, i);
      if (i % 3 === 0) stats.onFinish(id, i, (i * 37) % 101, i % 5 !== 0);
    }
    return picks;
  };
  for (const name of STRATEGY_NAMES) {
    assert.deepEqual(run(name, 42), run(name, 42), name);
  }
  assert.notDeepEqual(run("p2c-peak-ewma", 42), run("p2c-peak-ewma", 43));
});

Deno.test("selectCandidates keeps healthy, not-ejected replicas offering the tool", () => {
  const replicas = [
    { id: "a", healthy: true, ejected: false, tools: ["search", "fetch"] },
    { id: "b", healthy: false, ejected: false, tools: ["search"] },
    { id: "c", healthy: true, ejected: true, tools: new Set(["search"]) },
    { id: "d", healthy: true, ejected: false, tools: new Set(["search"]) },
    { id: "e", healthy: true, ejected: false, tools: [] },
  ];
  assert.deepEqual(selectCandidates(replicas, "search"), ["a", "d"]);
  assert.deepEqual(selectCandidates(replicas, "fetch"), ["a"]);
  assert.deepEqual(selectCandidates(replicas, "missing"), []);
  assert.deepEqual(selectCandidates(replicas), ["a", "d", "e"]);
  assert.deepEqual(selectCandidates([], "search"), []);
});
