import { SeededRng } from "../rng.ts";
import { HashRing } from "./consistent_hash.ts";
import { StatsTable } from "./stats.ts";
import { createStrategy, STRATEGY_NAMES } from "./strategy.ts";

const CANDIDATE_COUNT = 16;
const candidates = Array.from({ length: CANDIDATE_COUNT }, (_, i) => `replica-${i}`);
const stats = new StatsTable();
const setupRng = new SeededRng(1);
for (const id of candidates) {
  for (let i = 0; i < 20; i++) {
    stats.onStart(id, i * 10);
    stats.onFinish(id, i * 10 + 5, 1 + setupRng.int(200), setupRng.next() > 0.05);
  }
  for (let i = setupRng.int(4); i > 0; i--) stats.onStart(id, 300);
}
const sessionKeys = Array.from({ length: 1024 }, (_, i) => `session-${i}`);

for (const name of STRATEGY_NAMES) {
  const strategy = createStrategy(name);
  const rng = new SeededRng(7);
  let i = 0;
  Deno.bench(`${name}: one pick among ${CANDIDATE_COUNT} candidates`, { group: "pick" }, () => {
    i = (i + 1) & 1023;
    strategy.pick(candidates, stats, rng, { key: sessionKeys[i], nowMs: 400 });
  });
}

Deno.bench(`consistent-hash: ring rebuild for ${CANDIDATE_COUNT} replicas × 160 points`, () => {
  new HashRing(candidates, 160);
});
