// The verified-token cache: bounded by count and by characters, and a cached
// token stops proving anything at its expiry, through the authenticator too.
import assert from "node:assert/strict";
import { ANONYMOUS } from "@safla/core/access";
import { Authenticator } from "./authenticator.ts";
import { VerifiedTokenCache } from "./token_cache.ts";
import { startTestIssuer } from "./testing/test_issuer.ts";

Deno.test("token cache: expiry, count bound and character bound evict the oldest", () => {
  const cache = new VerifiedTokenCache(2, 10);
  cache.set("aaa", ANONYMOUS, 100);
  assert.equal(cache.get("aaa", 99), ANONYMOUS);
  assert.equal(cache.get("aaa", 100), undefined, "expired at its exp");
  assert.equal(cache.size, 0);
  cache.set("aaa", ANONYMOUS, 1e9);
  cache.set("bbb", ANONYMOUS, 1e9);
  cache.set("ccc", ANONYMOUS, 1e9);
  assert.deepEqual([cache.get("aaa", 0), cache.size], [undefined, 2], "count bound");
  cache.set("dddddd", ANONYMOUS, 1e9);
  assert.equal(cache.get("bbb", 0), undefined, "character bound: 3 + 3 + 6 > 10");
  assert.equal(cache.get("ccc", 0), ANONYMOUS);
  cache.set("x".repeat(11), ANONYMOUS, 1e9);
  assert.equal(cache.get("x".repeat(11), 0), undefined, "a token over the whole bound is not kept");
});

Deno.test("a cached JWT is refused once it expires", async () => {
  const issuer = await startTestIssuer();
  let nowMs = Date.now();
  const auth = new Authenticator({
    resource: "http://gw/mcp",
    requiredScopes: [],
    apiKeys: [],
    oauth: {
      issuer: issuer.issuer,
      algorithms: ["RS256"],
      clockSkewSeconds: 0,
      jwksRefreshMinIntervalMs: 30_000,
    },
  }, () => nowMs);
  try {
    const exp = Math.floor(nowMs / 1000) + 60;
    const token = await issuer.mint({ iss: issuer.issuer, aud: "http://gw/mcp", sub: "a", exp });
    const first = await auth.authenticate(`Bearer ${token}`);
    assert.ok("principal" in first);
    nowMs = exp * 1000;
    const later = await auth.authenticate(`Bearer ${token}`);
    assert.deepEqual(later, {
      refusal: { status: 401, error: "invalid_token", description: "the token has expired" },
    });
  } finally {
    await issuer.close();
  }
});
