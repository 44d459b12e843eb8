// Every named scenario of the catalogue, over a campaign of seeds on the correct code: a
// checker false alarm (or a real bug) that shows on one seed in ten is found here, not only
// by a long manual campaign. Chaos is shortened to keep the file within ~15 CPU seconds.
import assert from "node:assert/strict";
import { scenarioNames, SCENARIOS } from "./scenarios.ts";
import { runSimulation } from "./simulation.ts";

/** Seeds per scenario: removeLeader's old false alarm (14 of 50 seeds) shows within these. */
const SEEDS_PER_SCENARIO = 12;
const CHAOS_US = 1_500_000;

for (const name of scenarioNames()) {
  Deno.test(`scenario ${name}: ${SEEDS_PER_SCENARIO} seeds pass on the correct code`, () => {
    const scenario = SCENARIOS[name];
    const failures: string[] = [];
    for (let seed = 1; seed <= SEEDS_PER_SCENARIO; seed++) {
      const r = runSimulation({
        seed,
        adjust: (c) => ({ ...scenario.adjust(c), chaosUs: CHAOS_US }),
        bugs: scenario.bugs,
      });
      if (r.violations.length > 0) {
        failures.push(
          `seed ${seed}: ${r.violations.map((v) => `${v.kind}: ${v.detail}`).join("; ")}\n` +
            `  replay: deno task sim --scenario ${name} --seed ${seed}`,
        );
      }
    }
    assert.deepEqual(failures, [], failures.join("\n"));
  });
}
