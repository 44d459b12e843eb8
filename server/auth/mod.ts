/**
 * Inbound authentication: who is calling the HTTP fronts (API keys, OAuth
 * 2.1 JWT access tokens, RFC 7662 introspection), the RFC 9728 metadata and
 * challenges MCP clients discover the authorization server by, the stdio
 * front's local identity, and the loopback-only default without it.
 *
 * @example
 * ```ts
 * import { Authenticator, parseAuthConfig } from "./mod.ts";
 * const config = parseAuthConfig({
 *   apiKeys: [{ hash: `sha256:${"0".repeat(64)}`, subject: "ci-bot", scopes: ["mcp"] }],
 * }, (key, problem) => {
 *   throw new Error(`${key}: ${problem}`);
 * })!;
 * const outcome = await new Authenticator(config).authenticate(null);
 * console.assert("refusal" in outcome && outcome.refusal.status === 401);
 * ```
 *
 * @module
 */
export { type AuthConfig, authEnabled, parseAuthConfig } from "./auth_config.ts";
export { ApiKeys, generateApiKey, hashApiKey } from "./api_keys.ts";
export { Authenticator, type AuthOutcome, type AuthRefusal } from "./authenticator.ts";
export {
  authenticate,
  challenge,
  type PrincipalEnv,
  protectedResourceMetadata,
  resourceMetadataUrl,
} from "./middleware.ts";
export { checkExposure, ExposureError, INSECURE_NO_AUTH_FLAG, isLoopbackHost } from "./exposure.ts";
export { stdioPrincipal } from "./stdio_principal.ts";
