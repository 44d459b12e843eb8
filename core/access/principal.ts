/**
 * Who is calling: the identity every inbound request carries once the front
 * has authenticated it, whatever proved it (a JWT, an API key, the local user
 * on the stdio front). Authorization, session binding, quotas and audit all
 * take this one type, so the pure decisions never look at HTTP.
 *
 * @module
 */

/** How a {@link Principal} proved who it is. */
export type PrincipalSource = "oauth" | "apiKey" | "stdio" | "adminToken" | "anonymous";

/** An authenticated caller. */
export interface Principal {
  /** Stable subject: a JWT's `sub`, an API key's configured subject, the stdio front's identity. */
  readonly subject: string;
  /** The token's issuer, for OAuth principals; subjects are unique per issuer. */
  readonly issuer?: string;
  /** Granted scopes (OAuth `scope`/`scp`, an API key's configured scopes). */
  readonly scopes: readonly string[];
  /** Other claims policies may look at (e.g. `groups`); never the raw token. */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly source: PrincipalSource;
}

/** The scope that management tools and the admin API ask for. */
export const ADMIN_SCOPE = "safla:admin";

/**
 * The caller of a node that runs without authentication (loopback only, or
 * `--insecure-no-auth`): one shared identity with no scopes.
 */
export const ANONYMOUS: Principal = Object.freeze({
  subject: "anonymous",
  scopes: Object.freeze([]) as readonly string[],
  claims: Object.freeze({}),
  source: "anonymous",
});

/**
 * A key that is equal for two principals exactly when they are the same
 * caller (same issuer and subject, or same kind of local identity): what a
 * session or an input exchange is bound to, and what per-principal bounds
 * count by.
 */
export function principalKey(principal: Principal): string {
  const realm = principal.source === "oauth" ? `oauth:${principal.issuer ?? ""}` : principal.source;
  return `${realm.length}:${realm}|${principal.subject}`;
}

/** Whether `principal` holds `scope`. */
export function hasScope(principal: Principal, scope: string): boolean {
  return principal.scopes.includes(scope);
}
