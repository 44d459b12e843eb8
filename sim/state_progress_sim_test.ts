// The durable-state check catches, on the first seed, the disk and driver bugs that lose
// acknowledged state in a crash (before it, only their downstream effects were seen).
import assert from "node:assert/strict";
import { BUGS } from "./bugs.ts";
import { runSimulation } from "./simulation.ts";

for (
  const [bug, detail] of [["ackBeforeFsync", /lost durable entries/], [
    "voteNotPersisted",
    /lost the durable vote/,
  ]] as const
) {
  Deno.test(`${bug} is caught as durable state lost at a restart`, () => {
    const r = runSimulation({ seed: 1, bugs: BUGS[bug].bugs, adjust: BUGS[bug].adjust });
    const found = r.violations.map((v) => v.detail).join("\n");
    assert.match(found, /\[durableStateLost\]/, found);
    assert.match(found, detail, found);
  });
}
