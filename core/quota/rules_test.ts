import assert from "node:assert/strict";
import { ANONYMOUS, type Principal } from "../access/principal.ts";
import { bucketsFor, parseQuotaRules, QUOTA_PREFIX } from "./rules.ts";

const alice: Principal = {
  subject: "alice",
  issuer: "https://idp",
  scopes: ["tools:write"],
  claims: {},
  source: "oauth",
};

Deno.test("each principal gets a bucket of its own per matching rule", () => {
  const rules = parseQuotaRules([
    { service: "search", ratePerSec: 5, burst: 10 },
    { service: "search", tool: "write", scope: "tools:write", ratePerSec: 1, burst: 1 },
    { service: "search", principal: "bob", ratePerSec: 1, burst: 1 },
    { service: "other", ratePerSec: 1, burst: 1 },
  ]);
  const a = bucketsFor(rules, alice, "search", "write");
  assert.deepEqual(a.map((b) => b.rule), [0, 1]);
  assert.ok(a.every((b) => b.key.startsWith(QUOTA_PREFIX)));
  assert.deepEqual(bucketsFor(rules, alice, "search", "read").map((b) => b.rule), [0]);
  const anon = bucketsFor(rules, ANONYMOUS, "search", "read");
  assert.deepEqual(anon.map((b) => b.rule), [0]);
  assert.notEqual(anon[0].key, a[0].key);
  assert.deepEqual(bucketsFor(rules, alice, "none", "x"), []);
});

Deno.test("malformed quota settings name the entry and field", () => {
  assert.deepEqual(parseQuotaRules(undefined), []);
  assert.throws(() => parseQuotaRules({}), /quotas must be an array/);
  assert.throws(() => parseQuotaRules([{ ratePerSec: 1, burst: 1 }]), /quotas\[0\]\.service/);
  assert.throws(
    () => parseQuotaRules([{ service: "s", ratePerSec: 1, burst: 1, tools: "x" }]),
    /quotas\[0\]\.tools is not a quota setting/,
  );
  assert.throws(() => parseQuotaRules([{ service: "s", ratePerSec: -1, burst: 1 }]), /ratePerSec/);
  assert.throws(
    () => parseQuotaRules([{ service: "s", ratePerSec: 1, burst: 1, tool: "" }]),
    /tool/,
  );
});
