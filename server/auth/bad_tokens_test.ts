// Every kind of bad credential against a node with OAuth and API keys on,
// each with its exact status and WWW-Authenticate challenge, none reaching
// the backend or holding the node; and the good ones that must get through.
import assert from "node:assert/strict";
import { exportSPKI, importJWK, SignJWT } from "jose";
import { generateApiKey } from "./api_keys.ts";
import {
  type AuthedApp,
  callEcho,
  mcpPost,
  openSession,
  RESOURCE,
  startAuthedApp,
} from "./testing/authed_app.ts";
import { startTestIssuer, type TestIssuer } from "./testing/test_issuer.ts";

const METADATA = "http://localhost:8080/.well-known/oauth-protected-resource/mcp";
const CHALLENGE = `Bearer resource_metadata="${METADATA}", scope="mcp"`;
const invalid = (description: string) =>
  `${CHALLENGE}, error="invalid_token", error_description="${description}"`;
/** Each refusal must come this fast: a bad token may not hold the node. */
const MAX_REFUSAL_MS = 2_000;
const JWKS_REFRESH_MS = 100;

const b64url = (value: unknown) =>
  btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

function claims(issuer: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    aud: RESOURCE,
    sub: "alice",
    scope: "mcp",
    iat: now,
    exp: now + 300,
    ...extra,
  };
}

async function refusal(
  node: AuthedApp,
  authorization: string | undefined,
): Promise<{ status: number; challenge: string | null; error: string }> {
  const started = performance.now();
  const response = await node.app.fetch(
    mcpPost({ jsonrpc: "2.0", id: 1, method: "tools/list" }, authorization),
  );
  const body = await response.json();
  assert.ok(performance.now() - started < MAX_REFUSAL_MS, "the refusal took too long");
  return {
    status: response.status,
    challenge: response.headers.get("www-authenticate"),
    error: body.error,
  };
}

Deno.test("bad credentials: exact status and challenge, never reaching a backend", async (t) => {
  const issuer: TestIssuer = await startTestIssuer();
  const key = generateApiKey();
  const revoked = generateApiKey();
  const node = await startAuthedApp({
    resource: RESOURCE,
    requiredScopes: ["mcp"],
    apiKeys: [{ hash: key.hash, subject: "ci-bot", scopes: ["mcp"] }],
    oauth: { issuer: issuer.issuer, jwksRefreshMinIntervalMs: JWKS_REFRESH_MS },
  });
  try {
    const bad = async (authorization: string | undefined, challenge: string, status = 401) => {
      const got = await refusal(node, authorization);
      assert.equal(got.status, status);
      assert.equal(got.challenge, challenge);
    };

    await t.step("missing: 401 with the metadata URL and scope, no error code", async () => {
      await bad(undefined, CHALLENGE);
      await bad("Basic YWxpY2U6cHc=", CHALLENGE);
    });
    await t.step("malformed: 401 invalid_token", async () => {
      await bad("Bearer not a token", invalid("the token is malformed"));
      await bad("Bearer a.b.c", invalid("the token is malformed"));
    });
    await t.step("expired", async () => {
      const token = await issuer.mint(
        claims(issuer.issuer, { exp: Math.floor(Date.now() / 1000) - 3600 }),
      );
      await bad(`Bearer ${token}`, invalid("the token has expired"));
    });
    await t.step("not yet valid", async () => {
      const token = await issuer.mint(
        claims(issuer.issuer, { nbf: Math.floor(Date.now() / 1000) + 3600 }),
      );
      await bad(`Bearer ${token}`, invalid("the token is not valid yet"));
    });
    await t.step("wrong issuer (signed by the right key)", async () => {
      const token = await issuer.mint(claims("http://evil.example"));
      await bad(`Bearer ${token}`, invalid("the token is from another issuer"));
    });
    await t.step("wrong audience: a token for another resource", async () => {
      const token = await issuer.mint(claims(issuer.issuer, { aud: "http://other.example/mcp" }));
      await bad(`Bearer ${token}`, invalid("the token is not for this resource"));
    });
    await t.step("alg none, with and without a signature part", async () => {
      const token = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims(issuer.issuer))}.`;
      for (const unsigned of [token, `${token}c2ln`]) {
        await bad(`Bearer ${unsigned}`, invalid("the token's signature algorithm is not accepted"));
      }
    });
    await t.step("HS256 signed with the issuer's public key", async () => {
      const publicKey = await importJWK(issuer.publicJwk(), "RS256") as CryptoKey;
      const pem = new TextEncoder().encode(await exportSPKI(publicKey));
      const token = await new SignJWT(claims(issuer.issuer))
        .setProtectedHeader({ alg: "HS256", kid: "k1" })
        .sign(pem);
      await bad(`Bearer ${token}`, invalid("the token's signature algorithm is not accepted"));
    });
    await t.step("tampered payload", async () => {
      const [header, , signature] = (await issuer.mint(claims(issuer.issuer))).split(".");
      const forged = `${header}.${b64url(claims(issuer.issuer, { sub: "root" }))}.${signature}`;
      await bad(`Bearer ${forged}`, invalid("the token's signature is invalid"));
    });
    await t.step("a revoked API key (no longer in the config)", async () => {
      await bad(`Bearer ${revoked.key}`, invalid("the token is not valid here"));
    });
    await t.step("a 100 KB token is refused without parsing", async () => {
      await bad(`Bearer ${"a".repeat(100 * 1024)}`, invalid("the token is over 8192 bytes"));
    });
    await t.step("missing scope: 403 insufficient_scope naming the scope", async () => {
      const token = await issuer.mint(claims(issuer.issuer, { scope: "other" }));
      await bad(
        `Bearer ${token}`,
        `${CHALLENGE}, error="insufficient_scope", error_description="missing scope: mcp"`,
        403,
      );
    });
    await t.step("nothing above reached the backend", () => {
      assert.equal(node.backend.received.length, 0);
    });

    await t.step("a valid JWT and a valid API key call the backend", async () => {
      for (
        const authorization of [
          `Bearer ${await issuer.mint(claims(issuer.issuer))}`,
          `Bearer ${key.key}`,
        ]
      ) {
        const id = await openSession(node.app, authorization);
        const response = await callEcho(node.app, id, authorization);
        assert.equal(response.status, 200);
        assert.match(await response.text(), /echo echo/);
      }
      assert.equal(node.backend.received.length, 2);
    });

    await t.step("unknown kid: 401, then valid once the issuer publishes the key", async () => {
      const kid = await issuer.addUnpublishedKey();
      const token = `Bearer ${await issuer.mint(claims(issuer.issuer), { kid })}`;
      await bad(token, invalid("the token is signed with an unknown key"));
      // Within the cooldown the key set is not refetched for every unknown kid.
      const fetches = issuer.jwksFetches;
      await bad(token, invalid("the token is signed with an unknown key"));
      assert.equal(
        issuer.jwksFetches,
        fetches,
        "an unknown kid refetched the JWKS within the cooldown",
      );
      issuer.publishAll();
      await new Promise((resolve) => setTimeout(resolve, JWKS_REFRESH_MS * 2));
      const id = await openSession(node.app, token);
      const response = await callEcho(node.app, id, token);
      assert.equal(response.status, 200);
      await response.body?.cancel();
    });

    await t.step(
      "a burst of 500 bad tokens at once holds nothing and refetches no keys",
      async () => {
        const fetches = issuer.jwksFetches;
        const kid = await issuer.addUnpublishedKey();
        const unknownKid = `Bearer ${await issuer.mint(claims(issuer.issuer), { kid })}`;
        const [header, , signature] = (await issuer.mint(claims(issuer.issuer))).split(".");
        const forged = `Bearer ${header}.${
          b64url(claims(issuer.issuer, { sub: "root" }))
        }.${signature}`;
        const started = performance.now();
        const statuses = await Promise.all(
          Array.from({ length: 500 }, async (_, i) => {
            const response = await node.app.fetch(
              mcpPost({ jsonrpc: "2.0", id: i, method: "tools/list" }, i % 2 ? unknownKid : forged),
            );
            await response.body?.cancel();
            return response.status;
          }),
        );
        assert.ok(statuses.every((s) => s === 401));
        assert.ok(performance.now() - started < 10_000, "the burst took too long");
        assert.ok(issuer.jwksFetches <= fetches + 1, "unknown kids refetched the key set");
        const good = `Bearer ${await issuer.mint(claims(issuer.issuer))}`;
        const id = await openSession(node.app, good);
        const response = await callEcho(node.app, id, good);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      },
    );
  } finally {
    await node.close();
    await issuer.close();
  }
});
