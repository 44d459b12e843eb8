// The whole MCP authorization flow against a real authorization server
// (oidc-provider on 127.0.0.1) and a gateway node on a real socket, driven by
// the official SDK clients: 401 → Protected Resource Metadata → authorization
// server metadata → dynamic client registration → authorization code + PKCE
// (consent answered by the test) → JWT access token for this resource →
// tools/call. The backend is a stand-in that counts what reaches it.
import assert from "node:assert/strict";
import { Client as ClientV1 } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as TransportV1 } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  auth,
  type OAuthClientProvider,
  UnauthorizedError,
} from "@modelcontextprotocol/sdk/client/auth.js";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from "@modelcontextprotocol/sdk/shared/auth.js";
import {
  Client as ClientV2,
  type OAuthDiscoveryState,
  StreamableHTTPClientTransport as TransportV2,
  UnauthorizedError as UnauthorizedErrorV2,
} from "@modelcontextprotocol/client";
import { type AuthedApp, startAuthedApp } from "./testing/authed_app.ts";
import { followAuthorization, type OidcServer, startOidcServer } from "./testing/oidc_server.ts";

/** A client's OAuth state in memory; the "browser" is {@link followAuthorization}. */
export class MemoryOAuthProvider implements OAuthClientProvider {
  client?: OAuthClientInformationMixed;
  savedTokens?: OAuthTokens;
  verifier = "";
  /** The redirect the last authorization ended with (`code`, `state`, `iss`). */
  callback?: URLSearchParams;
  get code(): string | undefined {
    return this.callback?.get("code") ?? undefined;
  }
  readonly redirectUrl = "http://127.0.0.1:9/callback";
  readonly clientMetadata: OAuthClientMetadata = {
    client_name: "safla oauth flow test",
    redirect_uris: ["http://127.0.0.1:9/callback"],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    application_type: "native",
  } as OAuthClientMetadata;

  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.client = info;
  }
  tokens() {
    return this.savedTokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.savedTokens = tokens;
  }
  async redirectToAuthorization(url: URL) {
    this.callback = await followAuthorization(url);
  }
  /** Kept with the code verifier, so the v2 client can check the callback's issuer (SEP-2352). */
  discovery?: OAuthDiscoveryState;
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** A gateway app with OAuth on, served on a free loopback port, with its resource URI. */
async function startGateway(
  oidc: () => Promise<OidcServer>,
): Promise<{ node: AuthedApp; oidc: OidcServer; url: string; close(): Promise<void> }> {
  // The gateway's resource URI names its port, so the socket comes first.
  const started = Promise.withResolvers<AuthedApp>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req) => (await started.promise).app.fetch(req),
  );
  const url = `http://127.0.0.1:${server.addr.port}/mcp`;
  const issuer = await oidc();
  const node = await startAuthedApp({
    resource: url,
    requiredScopes: ["mcp"],
    oauth: { issuer: issuer.issuer },
  });
  started.resolve(node);
  return {
    node,
    oidc: issuer,
    url,
    close: async () => {
      await node.close();
      await server.shutdown();
      await issuer.close();
    },
  };
}

Deno.test({
  name: "OAuth flow: SDK v1 and v2 clients, oidc-provider, a gateway node",
  fn: async (t) => {
    let resource = "";
    const gw = await startGateway(() => startOidcServer(() => resource));
    resource = gw.url;
    try {
      await t.step("401 → discovery → DCR → code + PKCE → token → tools/call", async () => {
        const provider = new MemoryOAuthProvider();
        const first = new TransportV1(new URL(gw.url), { authProvider: provider });
        const client = new ClientV1({ name: "v1", version: "1" });
        await assert.rejects(client.connect(first), UnauthorizedError);
        assert.ok(provider.client?.client_id, "the client registered dynamically");
        assert.ok(provider.code, "the authorization ended with a code");
        await first.finishAuth(provider.code!);
        const token = provider.savedTokens!.access_token;
        const claims = JSON.parse(
          atob(token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")),
        );
        assert.equal(claims.aud, gw.url, "the token's audience is the gateway (RFC 8707)");

        const authed = new ClientV1({ name: "v1", version: "1" });
        await authed.connect(new TransportV1(new URL(gw.url), { authProvider: provider }));
        try {
          const result = await authed.callTool({ name: "svc__echo", arguments: {} });
          assert.deepEqual(result.content, [{ type: "text", text: "echo echo" }]);
        } finally {
          await authed.close();
        }
        assert.equal(gw.node.backend.received.length, 1);
      });

      await t.step("the SDK v2 client on 2026-07-28: the same flow, then tools/call", async () => {
        const provider = new MemoryOAuthProvider();
        const first = new TransportV2(new URL(gw.url), { authProvider: provider });
        const client = new ClientV2({ name: "v2", version: "1" });
        client.setVersionNegotiation({ mode: "auto" });
        await assert.rejects(client.connect(first), UnauthorizedErrorV2);
        assert.ok(provider.callback, "the authorization ended with a code");
        await first.finishAuth(provider.callback!);

        const authed = new ClientV2({ name: "v2", version: "1" });
        authed.setVersionNegotiation({ mode: "auto" });
        await authed.connect(new TransportV2(new URL(gw.url), { authProvider: provider }));
        try {
          assert.equal(authed.getProtocolEra(), "modern");
          const result = await authed.callTool({ name: "svc__echo", arguments: {} });
          assert.deepEqual(result.content, [{ type: "text", text: "echo echo" }]);
        } finally {
          await authed.close();
        }
        assert.equal(gw.node.backend.received.length, 2);
      });

      await t.step("auth() alone reports AUTHORIZED once tokens are held", async () => {
        const provider = new MemoryOAuthProvider();
        assert.equal(await auth(provider, { serverUrl: gw.url }), "REDIRECT");
        assert.equal(
          await auth(provider, { serverUrl: gw.url, authorizationCode: provider.code }),
          "AUTHORIZED",
        );
      });
    } finally {
      await gw.close();
    }
  },
});
