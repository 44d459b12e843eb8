/**
 * The `auth` section of the gateway configuration: who may call `/mcp`,
 * `/sse` and `/messages`, and who the stdio front's local user is.
 *
 *     "auth": {
 *       "resource": "https://gw.example.com/mcp",
 *       "requiredScopes": ["mcp"],
 *       "apiKeys": [{ "hash": "sha256:<hex>", "subject": "ci-bot", "scopes": ["mcp"] }],
 *       "oauth": { "issuer": "https://login.example.com" },
 *       "stdioPrincipal": { "subject": "alice", "scopes": ["safla:admin"] }
 *     }
 *
 * Every error names the key, as the rest of the config parser does.
 *
 * @module
 */

/** One API key, known only by its hash. */
export interface ApiKeyEntry {
  /** SHA-256 of the key, as lowercase hex (without the `sha256:` prefix). */
  hashHex: string;
  subject: string;
  scopes: string[];
}

/** RFC 7662 introspection of opaque tokens. */
export interface IntrospectionConfig {
  endpoint: string;
  clientId: string;
  /** Read from the environment variable `clientSecretEnv` at start, never stored in the file. */
  clientSecret: string;
  /** How long an answer is reused; short, so a revoked token stops working soon. */
  cacheMs: number;
}

/** The OAuth 2.1 resource server settings (MCP authorization). */
export interface OAuthConfig {
  /** The authorization server's issuer identifier; its metadata names the JWKS. */
  issuer: string;
  /** Signature algorithms accepted; asymmetric only. */
  algorithms: string[];
  /** Tolerated clock difference for `exp`/`nbf`. */
  clockSkewSeconds: number;
  /** Where the signing keys are, when the issuer's metadata should not be asked. */
  jwksUri?: string;
  /** A `kid` not in the cached key set refetches it at most this often. */
  jwksRefreshMinIntervalMs: number;
  /** Scopes named in the Protected Resource Metadata. */
  scopesSupported?: string[];
  introspection?: IntrospectionConfig;
}

/** The validated `auth` section. */
export interface AuthConfig {
  /**
   * This gateway's canonical resource URI (RFC 8707), e.g.
   * `https://gw.example.com/mcp`: the audience every access token must name.
   */
  resource?: string;
  /** Scopes every HTTP caller must hold; missing ones get 403 `insufficient_scope`. */
  requiredScopes: string[];
  apiKeys: ApiKeyEntry[];
  oauth?: OAuthConfig;
  /** The stdio front's caller; absent: anonymous. */
  stdioPrincipal?: { subject: string; scopes: string[] };
}

/** Asymmetric JWS algorithms: a key set of public keys can only verify these. */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

type Json = Record<string, unknown>;
type Fail = (key: string, problem: string) => never;

const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const HASH = /^sha256:([0-9a-f]{64})$/;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function knownKeys(o: Json, at: string, known: string[], fail: Fail): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) fail(`${at}.${key}`, `unknown key; known: ${known.join(", ")}`);
  }
}

function scopes(v: unknown, at: string, fail: Fail): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string" && SCOPE.test(s))) {
    return fail(at, "must be an array of scope tokens (RFC 6749 §3.3: no spaces or quotes)");
  }
  return [...v];
}

function subject(v: unknown, at: string, fail: Fail): string {
  if (typeof v !== "string" || v.length === 0 || v.length > 256) {
    return fail(at, "must be a string of 1-256 characters");
  }
  return v;
}

function httpUrl(v: unknown, at: string, fail: Fail): string {
  let url: URL;
  try {
    url = new URL(String(v));
  } catch {
    return fail(at, `must be an absolute URL, got ${JSON.stringify(v)}`);
  }
  if (typeof v !== "string" || (url.protocol !== "https:" && url.protocol !== "http:")) {
    return fail(at, "must be an http: or https: URL");
  }
  if (url.hash !== "") fail(at, "must not have a fragment");
  return v;
}

function int(v: unknown, at: string, fail: Fail, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    fail(at, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v as number;
}

/**
 * Validates the `auth` section (absent: undefined, auth off). `env` reads
 * secrets named by `...Env` keys.
 */
export function parseAuthConfig(
  value: unknown,
  fail: Fail,
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): AuthConfig | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) return fail("auth", "must be an object");
  knownKeys(
    value,
    "auth",
    ["resource", "requiredScopes", "apiKeys", "oauth", "stdioPrincipal"],
    fail,
  );
  const config: AuthConfig = {
    requiredScopes: scopes(value.requiredScopes, "auth.requiredScopes", fail),
    apiKeys: [],
  };
  if (value.resource !== undefined) {
    config.resource = httpUrl(value.resource, "auth.resource", fail);
  }
  if (value.apiKeys !== undefined) {
    if (!Array.isArray(value.apiKeys)) fail("auth.apiKeys", "must be an array");
    for (const [i, entry] of (value.apiKeys as unknown[]).entries()) {
      const at = `auth.apiKeys[${i}]`;
      if (!isObject(entry)) fail(at, "must be an object");
      const e = entry as Json;
      knownKeys(e, at, ["hash", "subject", "scopes"], fail);
      const match = typeof e.hash === "string" ? HASH.exec(e.hash) : null;
      if (match === null) {
        fail(`${at}.hash`, `must be "sha256:" and 64 lowercase hex digits (deno task hash-key)`);
      }
      config.apiKeys.push({
        hashHex: match![1],
        subject: subject(e.subject, `${at}.subject`, fail),
        scopes: scopes(e.scopes, `${at}.scopes`, fail),
      });
    }
  }
  if (value.oauth !== undefined) config.oauth = parseOAuth(value.oauth, fail, env);
  if (config.oauth !== undefined && config.resource === undefined) {
    fail("auth.resource", "is required with auth.oauth: it is the audience tokens must name");
  }
  if (value.stdioPrincipal !== undefined) {
    const p = value.stdioPrincipal;
    if (!isObject(p)) return fail("auth.stdioPrincipal", "must be an object");
    knownKeys(p, "auth.stdioPrincipal", ["subject", "scopes"], fail);
    config.stdioPrincipal = {
      subject: subject(p.subject, "auth.stdioPrincipal.subject", fail),
      scopes: scopes(p.scopes, "auth.stdioPrincipal.scopes", fail),
    };
  }
  return config;
}

function parseOAuth(
  value: unknown,
  fail: Fail,
  env: (name: string) => string | undefined,
): OAuthConfig {
  const at = "auth.oauth";
  if (!isObject(value)) return fail(at, "must be an object");
  knownKeys(value, at, [
    "issuer",
    "algorithms",
    "clockSkewSeconds",
    "jwksUri",
    "jwksRefreshMinIntervalMs",
    "scopesSupported",
    "introspection",
  ], fail);
  const algorithms = value.algorithms ?? ASYMMETRIC_ALGORITHMS;
  if (
    !Array.isArray(algorithms) || algorithms.length === 0 ||
    !algorithms.every((a) => ASYMMETRIC_ALGORITHMS.includes(a))
  ) {
    fail(`${at}.algorithms`, `must be a non-empty subset of ${ASYMMETRIC_ALGORITHMS.join(", ")}`);
  }
  const oauth: OAuthConfig = {
    issuer: httpUrl(value.issuer, `${at}.issuer`, fail),
    algorithms: [...algorithms as string[]],
    clockSkewSeconds: int(value.clockSkewSeconds, `${at}.clockSkewSeconds`, fail, 0, 300, 30),
    jwksRefreshMinIntervalMs: int(
      value.jwksRefreshMinIntervalMs,
      `${at}.jwksRefreshMinIntervalMs`,
      fail,
      100,
      3_600_000,
      30_000,
    ),
  };
  if (value.jwksUri !== undefined) oauth.jwksUri = httpUrl(value.jwksUri, `${at}.jwksUri`, fail);
  if (value.scopesSupported !== undefined) {
    oauth.scopesSupported = scopes(value.scopesSupported, `${at}.scopesSupported`, fail);
  }
  if (value.introspection !== undefined) {
    const i = value.introspection;
    const iat = `${at}.introspection`;
    if (!isObject(i)) return fail(iat, "must be an object");
    knownKeys(i, iat, ["endpoint", "clientId", "clientSecretEnv", "cacheMs"], fail);
    if (typeof i.clientSecretEnv !== "string") {
      fail(`${iat}.clientSecretEnv`, "must name the environment variable holding the secret");
    }
    const secret = env(i.clientSecretEnv as string);
    if (secret === undefined || secret === "") {
      fail(`${iat}.clientSecretEnv`, `environment variable ${i.clientSecretEnv} is not set`);
    }
    oauth.introspection = {
      endpoint: httpUrl(i.endpoint, `${iat}.endpoint`, fail),
      clientId: subject(i.clientId, `${iat}.clientId`, fail),
      clientSecret: secret!,
      cacheMs: int(i.cacheMs, `${iat}.cacheMs`, fail, 0, 300_000, 30_000),
    };
  }
  return oauth;
}

/** Whether `config` turns authentication on for the HTTP fronts. */
export function authEnabled(config: AuthConfig | undefined): boolean {
  return config !== undefined && (config.apiKeys.length > 0 || config.oauth !== undefined);
}
