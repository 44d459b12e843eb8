import { SeededRng } from "../rng.ts";
import { STRATEGY_NAMES } from "../balancer/mod.ts";
import { CallExecutor, CallRouter } from "./mod.ts";

const REPLICA_COUNT = 16;
const replicas = Array.from({ length: REPLICA_COUNT }, (_, i) => ({
  id: `replica-${i}`,
  tools: ["search", "write"],
}));

for (const strategy of STRATEGY_NAMES) {
  const router = new CallRouter({
    serviceId: "bench",
    rng: new SeededRng(7),
    strategy,
    replicas,
  });
  for (const { id } of replicas) {
    for (let i = 0; i < 2; i++) router.observe(id, { kind: "probe", atMs: 0, ok: true });
  }
  const latencyRng = new SeededRng(11);
  let nowMs = 0;
  let i = 0;
  Deno.bench(
    `${strategy}: open + begin + complete among ${REPLICA_COUNT} replicas`,
    { group: "cycle" },
    () => {
      nowMs += 1;
      i = (i + 1) & 1023;
      const call = router.open(
        { toolName: "search", annotations: { readOnlyHint: true }, affinityKey: `s${i}` },
        nowMs,
      );
      const begun = router.begin(call, nowMs);
      if (!begun.ok) throw begun.error;
      nowMs += latencyRng.int(50);
      router.complete(begun.attempt, "ok", nowMs);
      // Keep the event queue from growing: a real driver drains it too.
      if (i === 0) router.takeEvents();
    },
  );
}

{
  // The same cycle through the executor, as both drivers run it: what the loop adds.
  const router = new CallRouter({
    serviceId: "bench",
    rng: new SeededRng(7),
    strategy: "p2c-peak-ewma",
    hedgeDelayMs: 100,
    replicas,
  });
  for (const { id } of replicas) {
    for (let i = 0; i < 2; i++) router.observe(id, { kind: "probe", atMs: 0, ok: true });
  }
  const latencyRng = new SeededRng(11);
  let nowMs = 0;
  let i = 0;
  Deno.bench(
    `p2c-peak-ewma: CallExecutor start + attemptEnded among ${REPLICA_COUNT} replicas`,
    { group: "cycle" },
    () => {
      nowMs += 1;
      i = (i + 1) & 1023;
      const executor = new CallExecutor(
        router,
        { toolName: "search", annotations: { readOnlyHint: true }, affinityKey: `s${i}` },
        nowMs,
        { hedging: true },
      );
      const [start] = executor.start(nowMs);
      if (start.kind !== "start") throw new Error(`no attempt: ${start.kind}`);
      nowMs += latencyRng.int(50);
      executor.attemptEnded(start.attempt, "ok", nowMs);
      if (i === 0) router.takeEvents();
    },
  );
}
