// The auth section's parser, the API key helpers and the safe-default bind check.
import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../config.ts";
import { ASYMMETRIC_ALGORITHMS, authEnabled, parseAuthConfig } from "./auth_config.ts";
import { ApiKeys, generateApiKey, hashApiKey, sha256 } from "./api_keys.ts";
import { checkExposure, ExposureError, isLoopbackHost } from "./exposure.ts";
import { main as hashKeyMain } from "./hash_key.ts";
import { stdioPrincipal } from "./stdio_principal.ts";
import { ANONYMOUS } from "@safla/core/access";

const parse = (auth: unknown, env: Record<string, string> = {}) =>
  parseAuthConfig(auth, (key, problem) => {
    throw new ConfigError("<test>", key, problem);
  }, (name) => env[name]);

const HASH = `sha256:${"ab".repeat(32)}`;

Deno.test("auth config: defaults, and every error names its key", () => {
  assert.equal(parse(undefined), undefined);
  const config = parse({
    resource: "https://gw.example.com/mcp",
    apiKeys: [{ hash: HASH, subject: "ci", scopes: ["mcp"] }],
    oauth: { issuer: "https://login.example.com" },
  })!;
  assert.deepEqual(config.oauth!.algorithms, ASYMMETRIC_ALGORITHMS);
  assert.equal(config.oauth!.clockSkewSeconds, 30);
  assert.deepEqual(config.apiKeys, [{ hashHex: "ab".repeat(32), subject: "ci", scopes: ["mcp"] }]);
  assert.ok(authEnabled(config));
  assert.ok(!authEnabled(parse({ requiredScopes: ["x"] })));

  const cases: [unknown, RegExp][] = [
    [{ apiKeys: [{ hash: "md5:00", subject: "x" }] }, /auth\.apiKeys\[0\]\.hash/],
    [{ apiKeys: [{ hash: HASH, subject: "" }] }, /auth\.apiKeys\[0\]\.subject/],
    [{ apiKeys: [{ hash: HASH, subject: "x", scopes: ["a b"] }] }, /auth\.apiKeys\[0\]\.scopes/],
    [{ oauth: { issuer: "https://as" } }, /auth\.resource: is required with auth\.oauth/],
    [
      { resource: "https://gw/mcp", oauth: { issuer: "https://as", algorithms: ["HS256"] } },
      /auth\.oauth\.algorithms/,
    ],
    [
      { resource: "https://gw/mcp", oauth: { issuer: "https://as", algorithms: ["none"] } },
      /auth\.oauth\.algorithms/,
    ],
    [{ resource: "https://gw/mcp#x" }, /auth\.resource: must not have a fragment/],
    [{ resource: "ftp://gw/mcp" }, /auth\.resource: must be an http/],
    [{ bogus: 1 }, /auth\.bogus: unknown key/],
    [
      {
        resource: "https://gw/mcp",
        oauth: {
          issuer: "https://as",
          introspection: { endpoint: "https://as/i", clientId: "gw", clientSecretEnv: "NOPE" },
        },
      },
      /clientSecretEnv: environment variable NOPE is not set/,
    ],
  ];
  for (const [auth, message] of cases) assert.throws(() => parse(auth), message);
});

Deno.test("auth config: a top-level key of the gateway config", () => {
  const config = parseConfig({
    mcpServers: {},
    auth: { apiKeys: [{ hash: HASH, subject: "ci" }] },
  });
  assert.equal(config.auth?.apiKeys[0].subject, "ci");
  assert.equal(parseConfig({ mcpServers: {} }).auth, undefined);
});

Deno.test("API keys: SHA-256 known answer, generated keys match their hash, short keys never match", () => {
  assert.equal(
    hashApiKey("abc"),
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  const { key, hash } = generateApiKey();
  assert.match(key, /^safla_[A-Za-z0-9_-]{43}$/);
  const keys = new ApiKeys([{ hashHex: hash.slice(7), subject: "ci", scopes: ["mcp"] }]);
  assert.equal(keys.match(sha256(key), key.length)?.subject, "ci");
  assert.equal(keys.match(sha256(key + "x"), key.length + 1), undefined);
  const short = new ApiKeys([{ hashHex: hashApiKey("abc").slice(7), subject: "weak", scopes: [] }]);
  assert.equal(short.match(sha256("abc"), 3), undefined);
  assert.equal(hashKeyMain(["too-short"]), 2);
  assert.equal(hashKeyMain(["a.".repeat(20)]), 2);
  assert.equal(hashKeyMain(["a", "b"]), 2);
});

Deno.test("safe default: no auth means loopback only, unless --insecure-no-auth", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) {
    assert.ok(isLoopbackHost(host), host);
  }
  for (const host of ["0.0.0.0", "::", "10.0.0.1", "gw.example.com", "128.0.0.1"]) {
    assert.ok(!isLoopbackHost(host), host);
  }
  assert.equal(checkExposure("127.0.0.1", false, false), undefined);
  assert.equal(checkExposure("0.0.0.0", true, false), undefined);
  assert.throws(() => checkExposure("0.0.0.0", false, false), ExposureError);
  assert.match(checkExposure("0.0.0.0", false, true)!, /WARNING: --insecure-no-auth/);
});

Deno.test("the stdio front's caller: the configured local identity, else anonymous", () => {
  assert.equal(stdioPrincipal(undefined), ANONYMOUS);
  assert.equal(stdioPrincipal(parse({ requiredScopes: [] })), ANONYMOUS);
  const alice = stdioPrincipal(
    parse({ stdioPrincipal: { subject: "alice", scopes: ["safla:admin"] } }),
  );
  assert.deepEqual(alice, {
    subject: "alice",
    scopes: ["safla:admin"],
    claims: {},
    source: "stdio",
  });
});
