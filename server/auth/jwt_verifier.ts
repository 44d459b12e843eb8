/**
 * Validates JWT access tokens as an OAuth 2.1 resource server must (MCP
 * authorization, RFC 9068): signature by a key of the issuer's JWKS with an
 * allow-listed asymmetric algorithm (so `none` and HS256-signed-with-the-
 * public-key never verify), `iss`, `aud` = this gateway's canonical resource
 * URI (RFC 8707), `exp`/`nbf` within a bounded clock skew. Verification is
 * `jose`'s; the key set is its remote JWKS, which caches the keys and
 * refetches on an unknown `kid` at most once per cooldown.
 *
 * @module
 */
import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { Principal } from "@safla/core/access";
import type { OAuthConfig } from "./auth_config.ts";
import { discoverJwksUri, IssuerUnavailableError, METADATA_TIMEOUT_MS } from "./issuer_metadata.ts";

/** How long fetched keys are trusted before the key set is refetched anyway. */
const JWKS_MAX_AGE_MS = 10 * 60_000;

/** A token that does not prove anything; the client should get a new one (401 `invalid_token`). */
export class TokenRejectedError extends Error {
  override name = "TokenRejectedError";
}

/** A verified token: who it names, and until when. */
export interface VerifiedToken {
  principal: Principal;
  expiresAtMs: number;
}

/** The scopes a token grants: `scope` (space-separated, RFC 9068) or `scp` (array or string). */
export function tokenScopes(payload: Record<string, unknown>): string[] {
  const raw = payload.scope ?? payload.scp;
  if (typeof raw === "string") return raw.split(" ").filter((s) => s !== "");
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === "string");
  return [];
}

/** Checks JWT access tokens of one issuer for one audience. */
export class JwtVerifier {
  readonly #config: OAuthConfig;
  readonly #audience: string;
  #jwks?: JWTVerifyGetKey;
  #discovery?: Promise<JWTVerifyGetKey>;
  #discoveryFailedAtMs = -Infinity;

  constructor(config: OAuthConfig, audience: string) {
    this.#config = config;
    this.#audience = audience;
    if (config.jwksUri !== undefined) this.#jwks = this.#keySet(config.jwksUri);
  }

  /**
   * The principal `token` proves. Throws {@link TokenRejectedError} for a
   * token that is not valid here, {@link IssuerUnavailableError} when the
   * issuer's keys cannot be had right now.
   */
  async verify(token: string, nowMs = Date.now()): Promise<VerifiedToken> {
    const keys = this.#jwks ?? await this.#discover(nowMs);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: this.#config.issuer,
        audience: this.#audience,
        algorithms: this.#config.algorithms,
        clockTolerance: this.#config.clockSkewSeconds,
        requiredClaims: ["exp", "sub"],
        currentDate: new Date(nowMs),
      }));
    } catch (error) {
      throw describe(error);
    }
    return {
      principal: Object.freeze({
        subject: payload.sub!,
        issuer: payload.iss,
        scopes: Object.freeze(tokenScopes(payload)),
        claims: Object.freeze({ ...payload }),
        source: "oauth" as const,
      }),
      expiresAtMs: payload.exp! * 1000,
    };
  }

  #keySet(uri: string): JWTVerifyGetKey {
    return createRemoteJWKSet(new URL(uri), {
      cooldownDuration: this.#config.jwksRefreshMinIntervalMs,
      cacheMaxAge: JWKS_MAX_AGE_MS,
      timeoutDuration: METADATA_TIMEOUT_MS,
    });
  }

  /** Finds the key set from the issuer's metadata; a failure is not retried within the cooldown. */
  #discover(nowMs: number): Promise<JWTVerifyGetKey> {
    if (this.#discovery !== undefined) return this.#discovery;
    if (nowMs - this.#discoveryFailedAtMs < this.#config.jwksRefreshMinIntervalMs) {
      return Promise.reject(
        new IssuerUnavailableError(`the keys of issuer ${this.#config.issuer} are unavailable`),
      );
    }
    this.#discovery = discoverJwksUri(this.#config.issuer).then(
      (uri) => (this.#jwks = this.#keySet(uri)),
      (error) => {
        this.#discovery = undefined;
        this.#discoveryFailedAtMs = nowMs;
        throw error instanceof IssuerUnavailableError
          ? error
          : new IssuerUnavailableError(`issuer ${this.#config.issuer}: ${error.message}`);
      },
    );
    return this.#discovery;
  }
}

/** Maps a jose failure to what the client is told. */
function describe(error: unknown): Error {
  if (error instanceof errors.JWTExpired) return new TokenRejectedError("the token has expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    const claim = error.claim;
    return new TokenRejectedError(
      claim === "nbf"
        ? "the token is not valid yet"
        : claim === "aud"
        ? "the token is not for this resource"
        : claim === "iss"
        ? "the token is from another issuer"
        : `the token's ${claim} claim is invalid`,
    );
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new TokenRejectedError("the token's signature algorithm is not accepted");
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new TokenRejectedError("the token is signed with an unknown key");
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new TokenRejectedError("the token's signature is invalid");
  }
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) {
    return new IssuerUnavailableError(`the issuer's key set is unavailable: ${error.message}`);
  }
  if (error instanceof errors.JOSEError) return new TokenRejectedError("the token is malformed");
  if (error instanceof TypeError || error instanceof DOMException) {
    // fetch of the key set failed (network, timeout).
    return new IssuerUnavailableError(`the issuer's key set is unavailable: ${error.message}`);
  }
  return error as Error;
}
