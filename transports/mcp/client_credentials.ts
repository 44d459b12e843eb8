/**
 * OAuth 2.1 client credentials towards a backend's own authorization server
 * (`oauth4webapi`): the gateway gets a token for itself, with the audience of
 * that backend, instead of passing its client's token on. The token is cached
 * and fetched again before it expires; callers that need one while a fetch
 * is under way share it.
 *
 * @module
 */
import * as oauth from "oauth4webapi";
import { resolveSecretRefs } from "./credentials.ts";

/** How to obtain a backend token (the service's `oauth` config). */
export interface ClientCredentialsConfig {
  /** The authorization server's issuer URL (its metadata is discovered from it). */
  issuer: string;
  clientId: string;
  /** Usually a `${env:…}` or `${file:…}` reference, resolved when a token is fetched. */
  clientSecret: string;
  /** Space-separated scopes to ask for. */
  scope?: string;
  /** RFC 8707 resource indicator: the backend the token is for. */
  resource?: string;
}

/** A token is fetched again this long before it expires, at most (or at 90 % of its life). */
const REFRESH_MARGIN_MS = 60_000;
/** Lifetime assumed for a token whose response has no `expires_in`. */
const DEFAULT_LIFETIME_MS = 300_000;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** The cached token of one backend. */
export class ClientCredentialsToken {
  #config: ClientCredentialsConfig;
  #where: string;
  #nowMs: () => number;
  #server?: oauth.AuthorizationServer;
  #token?: { value: string; refreshAtMs: number };
  #fetching?: Promise<string>;
  #fetches = 0;

  /** `where` names the backend in errors; `nowMs` is the clock (tests set it). */
  constructor(config: ClientCredentialsConfig, where: string, nowMs: () => number = Date.now) {
    this.#config = config;
    this.#where = where;
    this.#nowMs = nowMs;
  }

  /** How many tokens were fetched so far. */
  get fetches(): number {
    return this.#fetches;
  }

  /** The `Authorization` header value to send now. */
  async authorization(): Promise<string> {
    const token = this.#token;
    if (token !== undefined && this.#nowMs() < token.refreshAtMs) return `Bearer ${token.value}`;
    this.#fetching ??= this.#fetch().finally(() => this.#fetching = undefined);
    return `Bearer ${await this.#fetching}`;
  }

  /** Forgets the cached token (the backend refused it), so the next call fetches one. */
  invalidate(): void {
    this.#token = undefined;
  }

  async #fetch(): Promise<string> {
    const issuer = new URL(this.#config.issuer);
    // Plain HTTP only to an authorization server on this machine (tests, sidecars).
    const options = {
      [oauth.allowInsecureRequests]: LOOPBACK.has(issuer.host.replace(/:\d+$/, "")),
    };
    try {
      this.#server ??= await oauth.processDiscoveryResponse(
        issuer,
        await oauth.discoveryRequest(issuer, { ...options, algorithm: "oidc" }),
      );
      const secret = resolveSecretRefs(
        { clientSecret: this.#config.clientSecret },
        `${this.#where} oauth`,
      )!.clientSecret;
      const client: oauth.Client = { client_id: this.#config.clientId };
      const parameters: Record<string, string> = {};
      if (this.#config.scope !== undefined) parameters.scope = this.#config.scope;
      if (this.#config.resource !== undefined) parameters.resource = this.#config.resource;
      const startedMs = this.#nowMs();
      const response = await oauth.clientCredentialsGrantRequest(
        this.#server,
        client,
        oauth.ClientSecretPost(secret),
        parameters,
        options,
      );
      const result = await oauth.processClientCredentialsResponse(this.#server, client, response);
      this.#fetches++;
      const lifetimeMs = typeof result.expires_in === "number"
        ? result.expires_in * 1000
        : DEFAULT_LIFETIME_MS;
      this.#token = {
        value: result.access_token,
        refreshAtMs: startedMs + lifetimeMs - Math.min(REFRESH_MARGIN_MS, lifetimeMs / 10),
      };
      return result.access_token;
    } catch (error) {
      // oauth4webapi's errors describe the exchange, never the secret sent.
      throw new Error(
        `${this.#where}: no token from ${issuer.href}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}
