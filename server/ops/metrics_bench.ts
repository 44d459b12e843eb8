// What /metrics adds to each forwarded call: one attempt started and ended,
// one call ended, with their labels (deno bench server/ops/metrics_bench.ts).
import { NodeMetrics } from "./metrics.ts";

const metrics = new NodeMetrics();

Deno.bench("metrics: one call's observations (attempt started, attempt ended, call ended)", () => {
  metrics.attemptStarted("svc", "svc#0", "first");
  metrics.attemptEnded("svc", "svc#0", "ok", 1.2);
  metrics.callEnded("svc", "echo", "ok", 1.3);
});

const scraped = new NodeMetrics();
for (let s = 0; s < 10; s++) {
  for (let t = 0; t < 50; t++) scraped.callEnded(`svc${s}`, `tool_${t}`, "ok", 2);
}

Deno.bench("metrics: render the exposition text of 10 services x 50 tools", async () => {
  await scraped.render();
});
