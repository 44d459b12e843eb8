/**
 * A minimal authorization server for fast tests: RFC 8414 metadata, a JWKS
 * and an RFC 7662 introspection endpoint over real HTTP on 127.0.0.1,
 * signing keys made by `jose`, and a `mint` that signs any claims the test
 * wants (including the bad ones).
 * The full OAuth flow is tested against `oidc-provider` instead.
 *
 * @module
 */
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";

/** One signing key of the test issuer. */
interface SigningKey {
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  publicJwk: JWK;
}

/** A running test issuer. */
export interface TestIssuer {
  issuer: string;
  /** How many times the JWKS was fetched. */
  readonly jwksFetches: number;
  /** What introspection answers for each opaque token (unknown tokens: inactive). */
  readonly opaqueTokens: Map<string, Record<string, unknown>>;
  /** Introspection requests with the right client credentials so far. */
  readonly introspections: number;
  /** Signs `claims` with the current key (or one not published, `unpublishedKid`). */
  mint(claims: Record<string, unknown>, options?: { kid?: string }): Promise<string>;
  /** Makes a new key that signs but is not in the JWKS yet; returns its kid. */
  addUnpublishedKey(): Promise<string>;
  /** Publishes every key made so far. */
  publishAll(): void;
  /** The public JWK of the current key (for algorithm-confusion tests). */
  publicJwk(): JWK;
  close(): Promise<void>;
}

/** The gateway's client credentials at the introspection endpoint. */
export const CLIENT_ID = "gateway";
export const CLIENT_SECRET = "introspection-secret";

async function makeKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const publicJwk = { ...await exportJWK(publicKey), kid, alg: "RS256", use: "sig" };
  return { kid, privateKey, publicJwk };
}

/** Starts a test issuer on a free loopback port. */
export async function startTestIssuer(): Promise<TestIssuer> {
  const keys = new Map<string, SigningKey>();
  const published = new Set<string>();
  const first = await makeKey("k1");
  keys.set(first.kid, first);
  published.add(first.kid);
  let jwksFetches = 0;
  let introspections = 0;
  const opaqueTokens = new Map<string, Record<string, unknown>>();
  let issuer = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/introspect") {
      if (req.headers.get("authorization") !== `Basic ${btoa(`${CLIENT_ID}:${CLIENT_SECRET}`)}`) {
        return Response.json({ error: "invalid_client" }, { status: 401 });
      }
      introspections++;
      const token = new URLSearchParams(await req.text()).get("token") ?? "";
      return Response.json(opaqueTokens.get(token) ?? { active: false });
    }
    if (path === "/.well-known/oauth-authorization-server") {
      return Response.json({
        issuer,
        jwks_uri: `${issuer}/jwks`,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        introspection_endpoint: `${issuer}/introspect`,
      });
    }
    if (path === "/jwks") {
      jwksFetches++;
      return Response.json({ keys: [...published].map((kid) => keys.get(kid)!.publicJwk) });
    }
    return new Response("not found", { status: 404 });
  });
  issuer = `http://127.0.0.1:${server.addr.port}`;
  let nextKid = 2;
  return {
    issuer,
    get jwksFetches() {
      return jwksFetches;
    },
    opaqueTokens,
    get introspections() {
      return introspections;
    },
    mint: async (claims, options = {}) => {
      const key = keys.get(options.kid ?? first.kid)!;
      return await new SignJWT(claims)
        .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "at+jwt" })
        .sign(key.privateKey);
    },
    addUnpublishedKey: async () => {
      const key = await makeKey(`k${nextKid++}`);
      keys.set(key.kid, key);
      return key.kid;
    },
    publishAll: () => {
      for (const kid of keys.keys()) published.add(kid);
    },
    publicJwk: () => first.publicJwk,
    close: () => server.shutdown(),
  };
}
