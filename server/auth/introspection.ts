/**
 * RFC 7662 token introspection, for authorization servers that issue opaque
 * access tokens: the gateway asks the introspection endpoint (with its own
 * client credentials) whether a token is active, for whom, with what scopes
 * and for which audience. Answers are cached by the caller briefly
 * (`introspection.cacheMs`), so a revoked token stops working soon.
 *
 * @module
 */
import type { Principal } from "@safla/core/access";
import type { IntrospectionConfig } from "./auth_config.ts";
import { fetchJson, IssuerUnavailableError } from "./issuer_metadata.ts";
import { TokenRejectedError, tokenScopes, type VerifiedToken } from "./jwt_verifier.ts";

/** Asks an introspection endpoint about opaque tokens. */
export class Introspector {
  readonly #config: IntrospectionConfig;
  readonly #issuer: string;
  readonly #audience: string;

  constructor(config: IntrospectionConfig, issuer: string, audience: string) {
    this.#config = config;
    this.#issuer = issuer;
    this.#audience = audience;
  }

  /** The principal of an active token for this audience; else {@link TokenRejectedError}. */
  async verify(token: string, nowMs = Date.now()): Promise<VerifiedToken> {
    let answer: Record<string, unknown>;
    try {
      const credentials = btoa(
        `${encodeURIComponent(this.#config.clientId)}:${
          encodeURIComponent(this.#config.clientSecret)
        }`,
      );
      answer = await fetchJson(this.#config.endpoint, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
          authorization: `Basic ${credentials}`,
        },
        body: new URLSearchParams({ token, token_type_hint: "access_token" }),
      }) as Record<string, unknown>;
    } catch (error) {
      throw error instanceof IssuerUnavailableError
        ? error
        : new IssuerUnavailableError(`introspection failed: ${(error as Error).message}`);
    }
    if (answer?.active !== true) throw new TokenRejectedError("the token is not active");
    const audiences = Array.isArray(answer.aud) ? answer.aud : [answer.aud];
    if (!audiences.includes(this.#audience)) {
      throw new TokenRejectedError("the token is not for this resource");
    }
    if (answer.iss !== undefined && answer.iss !== this.#issuer) {
      throw new TokenRejectedError("the token is from another issuer");
    }
    if (typeof answer.sub !== "string" || answer.sub === "") {
      throw new TokenRejectedError("the token names no subject");
    }
    const expMs = typeof answer.exp === "number" ? answer.exp * 1000 : Infinity;
    if (expMs <= nowMs) throw new TokenRejectedError("the token has expired");
    const principal: Principal = Object.freeze({
      subject: answer.sub,
      issuer: this.#issuer,
      scopes: Object.freeze(tokenScopes(answer)),
      claims: Object.freeze({ ...answer }),
      source: "oauth" as const,
    });
    return { principal, expiresAtMs: Math.min(expMs, nowMs + this.#config.cacheMs) };
  }
}
