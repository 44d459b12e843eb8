import assert from "node:assert/strict";
import fc from "fast-check";
import type { SimToolCall } from "./driver.ts";
import { buildService, poissonWorkload, runUntil } from "./service.ts";

const READ_ONLY = { readOnlyHint: true } as const;

/**
 * Clients that give up mid-call, with hedging on and a replica crashing: the
 * executor's cancellation path under the simulator's timing.
 */
function cancellingRun(seed: number, hedgeDelayMs: number) {
  const service = buildService({
    seed,
    strategy: "p2c-peak-ewma",
    replicaCount: 3,
    tools: ["get", "append"],
    concurrency: 16,
    latency: { medianMs: 100, sigma: 0.5, tailProbability: 0.01, tailAlpha: 1.5, maxMs: 2_000 },
    router: { hedgeDelayMs },
    driver: { hedging: true },
  });
  const issued: SimToolCall[] = [];
  service.scheduler.at(700 * 1000, () => service.driver.crash("r1"));
  service.driver.startHousekeeping(2_000);
  poissonWorkload(service, 200, 0, 1_500, (rng): SimToolCall => {
    const cancelAfterMs = rng.next() < 0.4 ? 20 + rng.int(300) : undefined;
    const call: SimToolCall = rng.next() < 0.5
      ? { toolName: "get", annotations: READ_ONLY, cancelAfterMs }
      : { toolName: "append", cancelAfterMs };
    issued.push(call);
    return call;
  });
  runUntil(service, 6_000);
  return { service, issued };
}

Deno.test("client cancellation in the simulator: one answer per call, nothing left in flight", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.integer({ min: 30, max: 200 }),
      (seed, hedgeDelayMs) => {
        const { service, issued } = cancellingRun(seed, hedgeDelayMs);
        const results = service.driver.results;
        assert.equal(results.length, issued.length, "every call answered once");
        assert.equal(new Set(results.map((r) => r.callId)).size, results.length);
        assert.equal(service.router.metrics().inFlight, 0, "an attempt was left in flight");
        const executions = (callId: number): number =>
          service.backends.reduce((total, b) => total + b.executionsOf(callId), 0);
        for (const r of results) {
          if (!r.repeatSafe) assert.ok(executions(r.callId) <= 1, `call ${r.callId} ran twice`);
          if (r.result !== "cancelled") continue;
          // The call ended because its attempts were cancelled, none failed over after.
          assert.ok(r.outcomes.includes("cancelled"), JSON.stringify(r));
        }
        const cancelled = results.filter((r) => r.result === "cancelled").length;
        assert.ok(cancelled > 0, "no call was cancelled: the property proves little");
      },
    ),
    { numRuns: 8 },
  );
});
