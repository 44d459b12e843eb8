import { CircuitBreaker } from "./circuit_breaker.ts";
import { OutlierDetector } from "./outlier.ts";
import { RetryBudget, retryDecision } from "./retry.ts";

const breaker = new CircuitBreaker();
let breakerNowMs = 0;
Deno.bench("circuit breaker: acquire + onSuccess (closed)", () => {
  breakerNowMs += 1;
  const permit = breaker.acquire(breakerNowMs);
  if (permit.allowed) breaker.onSuccess(permit, breakerNowMs);
});

// retryRatio 1 keeps the budget from running dry, so this measures the allowed path.
const budget = new RetryBudget({ retryRatio: 1 });
let budgetNowMs = 0;
Deno.bench("retry: onRequest + retryDecision with budget (idempotent → retry)", () => {
  budgetNowMs += 1;
  budget.onRequest(budgetNowMs);
  retryDecision({
    annotations: { idempotentHint: true },
    attempt: 1,
    outcome: "unknown",
    budget,
    nowMs: budgetNowMs,
  });
});

Deno.bench("retry: retryDecision refusing a write (builds OutcomeUnknownError)", () => {
  retryDecision({ annotations: {}, attempt: 1, outcome: "unknown", toolName: "pay" });
});

const detector = new OutlierDetector();
const replicaIds = Array.from({ length: 16 }, (_, i) => `replica-${i}`);
detector.setReplicas(replicaIds);
let outlierNowMs = 0;
let next = 0;
Deno.bench("outlier: onResult (16 replicas)", () => {
  outlierNowMs += 1;
  next = (next + 1) & 15;
  detector.onResult(replicaIds[next], next !== 3, outlierNowMs);
});
Deno.bench("outlier: evaluate sweep (16 replicas)", () => {
  outlierNowMs += 1;
  detector.evaluate(outlierNowMs);
});
