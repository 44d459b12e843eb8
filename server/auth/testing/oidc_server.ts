/**
 * A real authorization server for the OAuth flow tests: `oidc-provider` (the
 * certified Node.js implementation) on 127.0.0.1 with dynamic client
 * registration, PKCE and resource indicators, issuing JWT access tokens
 * whose audience is the resource the client names. The login and consent
 * interaction is answered here, as a user who always agrees would; the
 * client side drives the redirects with plain fetch ({@link followAuthorization}).
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";
import { exportJWK, generateKeyPair } from "jose";

/** A running authorization server. */
export interface OidcServer {
  issuer: string;
  close(): Promise<void>;
}

/**
 * Starts `oidc-provider` on a free loopback port; `resource()` is the one
 * resource it serves (asked late, as the gateway's port may not be known yet).
 */
export async function startOidcServer(
  resource: () => string,
  options: { scope?: string; account?: string } = {},
): Promise<OidcServer> {
  const scope = options.scope ?? "mcp";
  const account = options.account ?? "alice";
  const { privateKey } = await generateKeyPair("RS256", { extractable: true });
  const signingKey = {
    ...await exportJWK(privateKey),
    kid: "test-rs256",
    alg: "RS256",
    use: "sig",
  };
  let handle: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [],
    jwks: { keys: [signingKey] },
    scopes: ["openid", "offline_access", scope],
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => ({ sub }),
    }),
    features: {
      registration: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource(),
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== resource()) throw new Error(`unknown resource ${indicator}`);
          return {
            scope,
            audience: resource(),
            accessTokenTTL: 600,
            accessTokenFormat: "jwt",
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
    },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, Grant: 600, Interaction: 600, Session: 600, RefreshToken: 600 },
    // deno-lint-ignore no-explicit-any
  } as any);
  const callback = provider.callback();
  handle = (req, res) => {
    if (!req.url?.startsWith("/interaction/")) return callback(req, res);
    void consent(provider, account, req, res).catch((error) => {
      res.statusCode = 500;
      res.end(String(error));
    });
  };
  return {
    issuer,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Logs `account` in and grants everything the client asked for. */
async function consent(
  // deno-lint-ignore no-explicit-any
  provider: any,
  account: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const grant = new provider.Grant({ accountId: account, clientId: details.params.client_id });
  const missing = details.prompt.details as {
    missingOIDCScope?: string[];
    missingResourceScopes?: Record<string, string[]>;
  };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(" "));
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(" "));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, {
    login: { accountId: account },
    consent: { grantId },
  }, { mergeWithLastSubmission: true });
}

/**
 * Follows an authorization request through the server's redirects as a
 * browser would (keeping its cookies) and returns the parameters of the
 * redirect it ends with (`code`, `state`, `iss`).
 */
export async function followAuthorization(
  authorizationUrl: URL | string,
): Promise<URLSearchParams> {
  const cookies = new Map<string, string>();
  let url = new URL(authorizationUrl);
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(url, {
      redirect: "manual",
      headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; ") },
    });
    await response.body?.cancel();
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair.indexOf("=");
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
    }
    const location = response.headers.get("location");
    if (location === null) {
      throw new Error(`authorization stopped at ${url}: HTTP ${response.status}`);
    }
    url = new URL(location, url);
    if (url.searchParams.has("code")) return url.searchParams;
    const error = url.searchParams.get("error");
    if (error !== null) {
      throw new Error(
        `authorization failed: ${error}: ${url.searchParams.get("error_description")}`,
      );
    }
  }
  throw new Error("authorization took more than 10 redirects");
}
