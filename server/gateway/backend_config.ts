/**
 * The per-service keys of the config that tune how the gateway talks to a
 * backend (start budget, protocol era), parsed apart from `server/config.ts`
 * so that file only spreads them into each service.
 *
 * @module
 */
import type { ClientCredentialsConfig, ProtocolEraChoice } from "@safla/transports";

/** How a service's backend is started and spoken to. */
export interface BackendServiceOptions {
  /**
   * Budget of a replica's connects until it was first ready; unset: the
   * gateway's `startTimeoutMs`.
   */
  startTimeoutMs?: number;
  /**
   * OAuth client credentials towards the backend's own authorization server
   * (HTTP backends); `clientSecret` is best a `${env:…}`/`${file:…}` reference.
   */
  oauth?: ClientCredentialsConfig;
  /**
   * Which protocol era to speak: `"auto"` (the default) prefers 2026-07-28
   * when the backend offers it; `"2025"` keeps to a 2025 session, for a
   * backend whose tools ask for sampling or elicitation only by the 2025
   * push (the gateway bridges 2026 `input_required` rounds to 2025 clients,
   * but cannot turn a push the 2026 era forbids into one); `"2026"` requires it.
   */
  protocolEra?: ProtocolEraChoice;
  /** While no replica of it on this node is ready, the node is not ready (`/readyz` 503). */
  required?: boolean;
}

/** The service keys {@link parseBackendKeys} reads. */
export const BACKEND_SERVICE_KEYS = ["startTimeoutMs", "oauth", "protocolEra", "required"] as const;
const ERAS = ["auto", "2025", "2026"];
const OAUTH_KEYS = new Set(["issuer", "clientId", "clientSecret", "scope", "resource"]);

/** Longest start budget accepted: an hour is already far beyond any install. */
const MAX_START_TIMEOUT_MS = 3_600_000;

/** Reads the backend keys of one service entry `s` (at config path `key`). */
export function parseBackendKeys(
  s: Record<string, unknown>,
  key: string,
  fail: (key: string, problem: string) => never,
): BackendServiceOptions {
  const out: BackendServiceOptions = {};
  const start = s.startTimeoutMs;
  if (start !== undefined) {
    if (
      typeof start !== "number" || !Number.isInteger(start) || start < 1 ||
      start > MAX_START_TIMEOUT_MS
    ) {
      fail(
        `${key}.startTimeoutMs`,
        `must be an integer from 1 to ${MAX_START_TIMEOUT_MS}, got ${JSON.stringify(start)}`,
      );
    }
    out.startTimeoutMs = start as number;
  }
  if (s.oauth !== undefined) out.oauth = parseOAuth(s.oauth, `${key}.oauth`, fail);
  if (s.required !== undefined) {
    if (typeof s.required !== "boolean") fail(`${key}.required`, "must be true or false");
    out.required = s.required as boolean;
  }
  if (s.protocolEra !== undefined) {
    if (typeof s.protocolEra !== "string" || !ERAS.includes(s.protocolEra)) {
      fail(`${key}.protocolEra`, `must be one of ${ERAS.map((e) => `"${e}"`).join(", ")}`);
    }
    out.protocolEra = s.protocolEra as ProtocolEraChoice;
  }
  return out;
}

function parseOAuth(
  value: unknown,
  key: string,
  fail: (key: string, problem: string) => never,
): ClientCredentialsConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(key, "must be an object {issuer, clientId, clientSecret, scope?, resource?}");
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!OAUTH_KEYS.has(k)) {
      fail(`${key}.${k}`, `unknown key; known: ${[...OAUTH_KEYS].join(", ")}`);
    }
  }
  for (const k of ["issuer", "clientId", "clientSecret"]) {
    if (typeof o[k] !== "string" || o[k] === "") fail(`${key}.${k}`, "must be a non-empty string");
  }
  for (const k of ["scope", "resource"]) {
    if (o[k] !== undefined && typeof o[k] !== "string") fail(`${key}.${k}`, "must be a string");
  }
  let issuer: URL;
  try {
    issuer = new URL(o.issuer as string);
  } catch {
    return fail(`${key}.issuer`, "must be a URL");
  }
  if (issuer.protocol !== "https:" && issuer.protocol !== "http:") {
    fail(`${key}.issuer`, "must be an https: URL (http: only on loopback)");
  }
  return {
    issuer: issuer.href.replace(/\/$/, ""),
    clientId: o.clientId as string,
    clientSecret: o.clientSecret as string,
    scope: o.scope as string | undefined,
    resource: o.resource as string | undefined,
  };
}
