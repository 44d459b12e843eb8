import assert from "node:assert/strict";
import { ProtocolError } from "@modelcontextprotocol/server";
import { ANONYMOUS, type Principal } from "@safla/core/access";
import { createCallGate } from "./call_gate.ts";
import { LocalBucketStore } from "./local_bucket_store.ts";
import { QuotaAdmission } from "./quota_admission.ts";
import { RATE_LIMITED } from "../gateway/jsonrpc_codes.ts";

const rules = [{ service: "s", ratePerSec: 10, burst: 20 }];
const alice: Principal = { subject: "alice", scopes: [], claims: {}, source: "apiKey" };

Deno.test("nodes sharing one bucket admit at most burst + rate x time between them", async () => {
  const store = new LocalBucketStore();
  let nowMs = 1_000;
  const nodes = [0, 1, 2].map(() =>
    new QuotaAdmission(store, rules, { nowMs: () => nowMs, sliceTtlMs: 1_000, waitForSliceMs: 50 })
  );
  let admitted = 0;
  let refused = 0;
  // 3 nodes x 100 calls per simulated second for 5 s, against 10/s with a burst of 20.
  for (let step = 0; step < 500; step++) {
    nowMs += 10;
    for (const node of nodes) {
      const refusal = await node.admit(ANONYMOUS, "s", "t");
      if (refusal === undefined) admitted++;
      else {
        refused++;
        assert.ok(refusal.retryAfterMs >= 1);
      }
    }
  }
  assert.ok(admitted <= 20 + 10 * 5, `${admitted} admitted`);
  assert.ok(admitted >= 40, `${admitted} admitted: the quota starved`);
  assert.equal(admitted + refused, 1_500);
  const writes = nodes.reduce((sum, n) => sum + n.slicesGranted, 0);
  assert.ok(writes * 2 < admitted, `${writes} slice writes for ${admitted} calls`);
});

Deno.test("each principal has a bucket of its own; unmatched calls are free", async () => {
  const q = new QuotaAdmission(
    new LocalBucketStore(),
    [{ service: "s", ratePerSec: 1, burst: 1 }],
    {
      nowMs: () => 0,
    },
  );
  assert.equal(await q.admit(ANONYMOUS, "s", "t"), undefined);
  assert.ok(await q.admit(ANONYMOUS, "s", "t"));
  assert.equal(await q.admit(alice, "s", "t"), undefined);
  assert.equal(await q.admit(ANONYMOUS, "other", "t"), undefined);
});

Deno.test("the gate refuses over quota and over the concurrency limit with RATE_LIMITED and a retry hint", async () => {
  const quotas = new QuotaAdmission(new LocalBucketStore(), [{
    service: "s",
    ratePerSec: 1,
    burst: 1,
  }], {
    nowMs: () => 0,
  });
  const gate = createCallGate({
    maxConcurrentCallsPerPrincipal: 2,
    quotas,
    rules: [{ service: "s", ratePerSec: 1, burst: 1 }],
  });
  const release = await gate(undefined, "s", "t");
  const over = await gate(undefined, "s", "t").catch((e) => e);
  assert.ok(over instanceof ProtocolError);
  assert.equal(over.code, RATE_LIMITED);
  assert.match(over.message, /rate limited: quota 0 \(1\/s, burst 1\) on s is used up/);
  assert.ok((over.data as { retryAfterMs: number }).retryAfterMs >= 1);
  release();

  const a = await gate(alice, "free", "t");
  const b = await gate(alice, "free", "t");
  const third = await gate(alice, "free", "t").catch((e) => e);
  assert.equal(third.code, RATE_LIMITED);
  assert.match(third.message, /too many concurrent calls: 2 of this caller/);
  a();
  a(); // a second release is a no-op
  const c = await gate(alice, "free", "t");
  b();
  c();
});
