/**
 * Finds an authorization server's signing keys from its issuer identifier:
 * the RFC 8414 metadata (`/.well-known/oauth-authorization-server`), else
 * OpenID Connect discovery, whose `issuer` must be exactly the configured one
 * (a document naming another issuer is refused, as the MCP spec asks of
 * clients), then its `jwks_uri`.
 *
 * @module
 */

/** Most bytes of a metadata document we read. */
const MAX_METADATA_BYTES = 64 * 1024;
/** How long one metadata request may take. */
export const METADATA_TIMEOUT_MS = 5_000;

/** The authorization server could not be asked, or answered nonsense. */
export class IssuerUnavailableError extends Error {
  override name = "IssuerUnavailableError";
}

/** The well-known URLs to try for `issuer`, in the order the MCP spec gives. */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  const origin = url.origin;
  return path === ""
    ? [
      `${origin}/.well-known/oauth-authorization-server`,
      `${origin}/.well-known/openid-configuration`,
    ]
    : [
      `${origin}/.well-known/oauth-authorization-server${path}`,
      `${origin}/.well-known/openid-configuration${path}`,
      `${origin}${path}/.well-known/openid-configuration`,
    ];
}

/** Reads a JSON document of at most {@link MAX_METADATA_BYTES}. */
export async function fetchJson(url: string, init: RequestInit = {}): Promise<unknown> {
  const response = await fetch(url, {
    ...init,
    redirect: "error",
    signal: AbortSignal.timeout(METADATA_TIMEOUT_MS),
  });
  if (!response.ok) {
    await response.body?.cancel();
    throw new IssuerUnavailableError(`${url} answered HTTP ${response.status}`);
  }
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > MAX_METADATA_BYTES) {
    await response.body?.cancel();
    throw new IssuerUnavailableError(`${url}: document over ${MAX_METADATA_BYTES} bytes`);
  }
  const text = await response.text();
  if (text.length > MAX_METADATA_BYTES) {
    throw new IssuerUnavailableError(`${url}: document over ${MAX_METADATA_BYTES} bytes`);
  }
  return JSON.parse(text);
}

/** The `jwks_uri` of `issuer`, from the first metadata document that answers. */
export async function discoverJwksUri(issuer: string): Promise<string> {
  const problems: string[] = [];
  for (const url of metadataUrls(issuer)) {
    let doc: unknown;
    try {
      doc = await fetchJson(url);
    } catch (error) {
      problems.push(`${url}: ${(error as Error).message}`);
      continue;
    }
    const meta = doc as { issuer?: unknown; jwks_uri?: unknown };
    if (meta.issuer !== issuer) {
      throw new IssuerUnavailableError(
        `${url} names issuer ${JSON.stringify(meta.issuer)}, not ${issuer}`,
      );
    }
    if (typeof meta.jwks_uri !== "string") {
      throw new IssuerUnavailableError(`${url} has no jwks_uri`);
    }
    return meta.jwks_uri;
  }
  throw new IssuerUnavailableError(
    `no metadata for issuer ${issuer}: ${problems.join("; ")}`,
  );
}
