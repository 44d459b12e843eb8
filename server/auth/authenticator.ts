/**
 * Who is calling, from the `Authorization` header of one HTTP request: an
 * API key, a JWT access token, or an opaque token the authorization server
 * introspects. The outcome is a {@link Principal} or a refusal that says
 * which status and `WWW-Authenticate` challenge the client gets (RFC 6750,
 * MCP authorization): 401 without an error code when no credentials came,
 * 401 `invalid_token` for a token that proves nothing, 403
 * `insufficient_scope` for a caller without the required scopes, 503 when
 * the authorization server cannot be asked.
 *
 * @module
 */
import type { Principal } from "@safla/core/access";
import { type AuthConfig, authEnabled } from "./auth_config.ts";
import { ApiKeys, sha256 } from "./api_keys.ts";
import { Introspector } from "./introspection.ts";
import { IssuerUnavailableError } from "./issuer_metadata.ts";
import { JwtVerifier, TokenRejectedError, type VerifiedToken } from "./jwt_verifier.ts";
import { VerifiedTokenCache } from "./token_cache.ts";

/** Tokens longer than this are refused before any parsing (real access tokens are ~1-2 KiB). */
export const MAX_TOKEN_BYTES = 8 * 1024;
/** Most introspection requests in flight; more callers get 503 instead of queueing. */
export const MAX_CONCURRENT_INTROSPECTIONS = 32;
/** An unavailable authorization server is logged at most this often (callers may retry fast). */
const UNAVAILABLE_LOG_INTERVAL_MS = 10_000;

/** RFC 6750 token68 characters: what a bearer token may contain. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Why a request is refused. */
export interface AuthRefusal {
  status: 401 | 403 | 503;
  /** RFC 6750 error code; absent for a request that sent no credentials. */
  error?: "invalid_token" | "invalid_request" | "insufficient_scope";
  description: string;
}

/** What {@link Authenticator.authenticate} decides. */
export type AuthOutcome = { principal: Principal } | { refusal: AuthRefusal };

/** The authentication of one node's HTTP fronts; see the module doc. */
export class Authenticator {
  readonly config: AuthConfig;
  readonly #apiKeys: ApiKeys;
  readonly #jwt?: JwtVerifier;
  readonly #introspector?: Introspector;
  readonly #verified = new VerifiedTokenCache();
  readonly #nowMs: () => number;
  #introspecting = 0;
  #unavailableLoggedAtMs = -Infinity;

  constructor(config: AuthConfig, nowMs: () => number = Date.now) {
    if (!authEnabled(config)) throw new TypeError("auth config enables no credential");
    this.config = config;
    this.#nowMs = nowMs;
    this.#apiKeys = new ApiKeys(config.apiKeys);
    const oauth = config.oauth;
    if (oauth !== undefined) {
      this.#jwt = new JwtVerifier(oauth, config.resource!);
      if (oauth.introspection !== undefined) {
        this.#introspector = new Introspector(oauth.introspection, oauth.issuer, config.resource!);
      }
    }
  }

  /** Decides on one request's `Authorization` header. */
  async authenticate(header: string | null | undefined): Promise<AuthOutcome> {
    if (header === null || header === undefined) {
      return refuse(401, undefined, "authorization required");
    }
    // Checked before anything looks inside the header, so a huge header costs nothing.
    if (header.length > MAX_TOKEN_BYTES + 7) {
      return refuse(401, "invalid_token", `the token is over ${MAX_TOKEN_BYTES} bytes`);
    }
    const space = header.indexOf(" ");
    if (space < 0 || header.slice(0, space).toLowerCase() !== "bearer") {
      return refuse(401, undefined, "authorization required: send a Bearer token");
    }
    const token = header.slice(space + 1).trim();
    const nowMs = this.#nowMs();
    // The hot path: the token a client sends on every call was verified before.
    let principal = this.#verified.get(token, nowMs);
    if (principal === undefined) {
      if (!TOKEN68.test(token)) return refuse(401, "invalid_token", "the token is malformed");
      const outcome = await this.#verify(token, nowMs);
      if ("refusal" in outcome) return outcome;
      principal = outcome.principal;
    }
    const missing = this.config.requiredScopes.filter((s) => !principal.scopes.includes(s));
    if (missing.length > 0) {
      return refuse(403, "insufficient_scope", `missing scope: ${missing.join(" ")}`);
    }
    return { principal };
  }

  /**
   * Checks a token not in the cache. API keys (which never contain a dot)
   * are matched by hash every time, in constant time, and never cached, so
   * that no lookup keyed by a secret can leak it through timing.
   */
  async #verify(token: string, nowMs: number): Promise<
    { principal: Principal } | {
      refusal: AuthRefusal;
    }
  > {
    const isJwt = token.split(".").length === 3;
    if (!isJwt && this.#apiKeys.size > 0) {
      const principal = this.#apiKeys.match(sha256(token), token.length);
      if (principal !== undefined) return { principal };
    }
    const verified = await this.#verifyOAuth(token, isJwt, nowMs);
    if ("principal" in verified && "expiresAtMs" in verified) {
      this.#verified.set(token, verified.principal, verified.expiresAtMs);
    }
    return verified;
  }

  async #verifyOAuth(
    token: string,
    isJwt: boolean,
    nowMs: number,
  ): Promise<VerifiedToken | { refusal: AuthRefusal }> {
    try {
      if (isJwt && this.#jwt !== undefined) return await this.#jwt.verify(token, nowMs);
      if (!isJwt && this.#introspector !== undefined) {
        if (this.#introspecting >= MAX_CONCURRENT_INTROSPECTIONS) {
          return refuse(503, undefined, "too many token checks in flight; retry shortly");
        }
        this.#introspecting++;
        try {
          return await this.#introspector.verify(token, nowMs);
        } finally {
          this.#introspecting--;
        }
      }
      return refuse(401, "invalid_token", "the token is not valid here");
    } catch (error) {
      if (error instanceof TokenRejectedError) return refuse(401, "invalid_token", error.message);
      if (error instanceof IssuerUnavailableError) {
        if (nowMs - this.#unavailableLoggedAtMs >= UNAVAILABLE_LOG_INTERVAL_MS) {
          this.#unavailableLoggedAtMs = nowMs;
          console.error(`auth: ${error.message}`);
        }
        return refuse(503, undefined, "the authorization server is unavailable; retry shortly");
      }
      throw error;
    }
  }
}

function refuse(
  status: AuthRefusal["status"],
  error: AuthRefusal["error"],
  description: string,
): { refusal: AuthRefusal } {
  return { refusal: { status, error, description } };
}
