/**
 * The caller of the stdio front: the local user who started the process, as
 * the operator names it in `auth.stdioPrincipal` (anonymous when unnamed).
 *
 * @module
 */
import { ANONYMOUS, type Principal } from "@safla/core/access";
import type { AuthConfig } from "./auth_config.ts";

/** The stdio front's principal for `config`. */
export function stdioPrincipal(config: AuthConfig | undefined): Principal {
  const named = config?.stdioPrincipal;
  if (named === undefined) return ANONYMOUS;
  return Object.freeze({
    subject: named.subject,
    scopes: Object.freeze([...named.scopes]),
    claims: Object.freeze({}),
    source: "stdio" as const,
  });
}
