// Keeps the front CPU bench from rotting: a tiny run on each lane answers
// every call, on the lane it names.
import assert from "node:assert/strict";
import { compareFrontAuth, measureFrontCpu } from "./front_cpu.ts";

Deno.test("front CPU bench: each lane serves every call and yields a figure", async () => {
  const direct = await measureFrontCpu({ callsPerRound: 20, rounds: 3, lane: "direct" });
  assert.equal(direct.directCalls, 20 * 4, "warm-up and rounds all took the direct lane");
  assert.ok(direct.minUs > 0 && direct.minUs <= direct.medianUs);
  const sdk = await measureFrontCpu({ callsPerRound: 20, rounds: 3, lane: "sdk" });
  assert.equal(sdk.directCalls, 0, "with the lane off the SDK Server served them");
  assert.ok(sdk.minUs > 0);
});

Deno.test("front CPU bench: with JWT or API key auth on, every call still gets through", async () => {
  for (const auth of ["jwt", "api-key"] as const) {
    const run = await measureFrontCpu({ callsPerRound: 20, rounds: 3, lane: "direct", auth });
    assert.equal(run.directCalls, 20 * 4, `${auth}: every call authenticated and served`);
  }
});

Deno.test("front CPU bench: interleaved comparison yields one figure per kind, the first at +0", async () => {
  const rows = await compareFrontAuth({ callsPerRound: 10, rounds: 3, lane: "direct" }, [
    "none",
    "jwt",
  ]);
  assert.deepEqual(rows.map((r) => r.auth), ["none", "jwt"]);
  assert.equal(rows[0].addedUs, 0);
  assert.ok(rows.every((r) => r.medianUs > 0));
});
