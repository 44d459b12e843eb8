/**
 * A real OAuth authorization server for tests (`oidc-provider`, the certified
 * Node.js implementation) on a free loopback port, with one confidential
 * client allowed the client-credentials grant.
 *
 * @module
 */
import { createServer } from "node:http";
import Provider from "oidc-provider";

/** A running authorization server. */
export interface OAuthServer {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

/** Starts one; tokens live `tokenTtlSeconds`. */
export async function startOAuthServer(tokenTtlSeconds = 600): Promise<OAuthServer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = "safla-gateway";
  const clientSecret = "test-client-secret-0123456789";
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_post",
    }],
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
    },
    ttl: { ClientCredentials: tokenTtlSeconds },
  });
  server.on("request", provider.callback());
  return {
    issuer,
    clientId,
    clientSecret,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
