/**
 * One connection to one backend MCP server (one replica of a service), over
 * stdio, Streamable HTTP or legacy HTTP+SSE, on the official SDK `Client`.
 *
 * The connection supervises itself: when the transport closes unexpectedly
 * (a stdio child exits, an HTTP server goes away) it reconnects with
 * exponential backoff and re-discovers the catalog, because a restarted
 * server may offer different tools. A server that comes back with zero tools
 * after having had some is reported unhealthy instead of healthy: a gateway
 * that routes to it would only produce "tool not found".
 *
 * @module
 */
import { DeviationLog, invalidResultError, repairModernResponse } from "./deviations.ts";
import { tolerantFetch } from "./tolerant_fetch.ts";
import { resolveSecretRefs } from "./credentials.ts";
import { type ClientCredentialsConfig, ClientCredentialsToken } from "./client_credentials.ts";
import {
  Client,
  type McpSubscription,
  SdkError,
  SdkErrorCode,
  SSEClientTransport,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";
import type {
  Implementation,
  Prompt,
  Resource,
  ResourceTemplateType,
  ServerCapabilities,
  Tool,
  Transport,
} from "@modelcontextprotocol/server";
import { type EraCache, eraKey, type PriorDiscovery } from "./era_cache.ts";
import { DenoStdioClientTransport } from "./stdio_transport.ts";
import { DirectRequests, MAX_PENDING_DIRECT } from "./direct_requests.ts";

/**
 * The gateway forwards backend results as they come. Without a schema,
 * `client.request` checks each result against the SDK's per-method schema,
 * after a probe parse of `undefined` whose failure builds a zod error message,
 * on every call; the client at the far end validates the result anyway. Only
 * the JSON-RPC shape of a result is checked here.
 */
const FORWARDED_RESULT = {
  "~standard": {
    version: 1 as const,
    vendor: "safla",
    validate: (value: unknown) =>
      typeof value === "object" && value !== null && !Array.isArray(value)
        ? { value: value as Record<string, unknown> }
        : { issues: [{ message: "a result must be a JSON object" }] },
  },
};

/** How to reach a backend. */
export type BackendSpec =
  | {
    kind: "stdio";
    command: string;
    args: string[];
    env?: Record<string, string>;
    cwd?: string;
  }
  | {
    kind: "streamable-http" | "sse";
    url: string;
    /** Sent on every request, e.g. upstream credentials. */
    headers?: Record<string, string>;
  };

/** What a backend offers, as discovered after (re)connecting. */
export interface Catalog {
  tools: Tool[];
  resources: Resource[];
  resourceTemplates: ResourceTemplateType[];
  prompts: Prompt[];
  capabilities: ServerCapabilities;
  serverInfo?: Implementation;
  /** `"modern"` (2026-07-28, stateless) or `"legacy"` (a 2025 session). */
  era: "modern" | "legacy";
  protocolVersion: string;
}

/** Lifecycle of a backend connection. */
export type BackendState = "connecting" | "ready" | "unhealthy" | "backoff" | "closed";

/** A JSON-RPC message the backend sent us that the gateway must act on. */
export interface BackendNotification {
  method: string;
  params?: Record<string, unknown>;
}

/**
 * When a server→client request reached the gateway, relative to the requests
 * the gateway wrote to that backend. The SDK hands the request to its handler
 * some microtasks after it arrived, by which time a later call may already be
 * in flight; comparing {@link McpBackend.requestsSent} taken before a call with
 * `requestsSentBefore` tells whether the backend could have seen that call.
 */
export interface ServerRequestArrival {
  /** How many requests the gateway had written to this connection when it arrived. */
  requestsSentBefore: number;
}

/**
 * One supervised connection to a backend replica, as the gateway uses it.
 * {@link McpBackend} is the real one; tests substitute their own through a
 * {@link BackendFactory}, so the gateway's call path runs without processes.
 */
export interface BackendConnection {
  /** `service/replica`, used in every error and log line. */
  readonly label: string;
  /** Current lifecycle state. */
  readonly state: BackendState;
  /** The catalog of the current connection, if it got that far. */
  readonly catalog: Catalog | undefined;
  /** How many times the connection was re-established after a loss. */
  readonly restarts: number;
  /** Why the backend is not ready, when it is not. */
  readonly lastError: Error | undefined;
  /** Requests written to the current connection so far (see {@link ServerRequestArrival}). */
  readonly requestsSent: number;
  /** The child process id of a stdio backend. */
  readonly pid: number | undefined;
  /** How many listen streams the servers ended and this connection opened again. */
  readonly listenStreamsReopened: number;
  /** Kinds of deviation from the spec this backend was forgiven (see deviations.ts). */
  readonly deviations?: readonly string[];
  /** Connects; resolves once the first attempt finished, whether or not it succeeded. */
  start(): Promise<void>;
  /** Closes for good (ending a stdio child). */
  close(): Promise<void>;
  /** Sends one request; rejects with the backend's error, a timeout or a transport error. */
  request(
    method: string,
    params: Record<string, unknown> | undefined,
    options?: BackendRequestOptions,
  ): Promise<Record<string, unknown>>;
  /** Has the backend report updates of exactly `uris`, now and after every reconnect. */
  watchResources(uris: readonly string[]): Promise<void>;
}

/** Builds the connection of one replica; the gateway receives one (default {@link McpBackend}). */
export type BackendFactory = (options: BackendOptions) => BackendConnection;

/** Callbacks from a backend into the gateway. */
export interface BackendHooks {
  /** list_changed, resources/updated, logging messages. */
  onNotification?(backend: BackendConnection, notification: BackendNotification): void;
  /**
   * A 2025-era server→client request (sampling, elicitation, roots). The
   * gateway routes it to the client whose call caused it.
   */
  onServerRequest?(
    backend: BackendConnection,
    request: { method: string; params?: Record<string, unknown> },
    signal: AbortSignal,
    arrival: ServerRequestArrival,
  ): Promise<Record<string, unknown>>;
  /** Every state transition, with the catalog when ready. */
  onStateChange?(backend: BackendConnection, state: BackendState, error?: Error): void;
}

/** Options of {@link McpBackend}. */
export interface BackendOptions {
  /** `service/replica`, used in every error and log line. */
  label: string;
  spec: BackendSpec;
  /** Default per-request timeout. */
  requestTimeoutMs: number;
  /** Bound on connect plus catalog discovery. */
  connectTimeoutMs: number;
  /**
   * Bound on connects until the backend was first ready (default
   * `connectTimeoutMs`): a stdio server started by `npx` with a cold cache
   * installs first, and one killed mid-install leaves a cache entry that
   * fails every later start, so its first start gets a budget of its own.
   */
  startTimeoutMs?: number;
  /** Where diagnostics go (default: our stderr). */
  log?: (line: string) => void;
  /** OAuth client credentials for an HTTP backend's own authorization server. */
  oauth?: ClientCredentialsConfig;
  /** Default `"auto"`. */
  protocolEra?: ProtocolEraChoice;
  /** First reconnect delay; doubles per failed attempt up to `maxBackoffMs`. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  eraCache: EraCache;
  hooks?: BackendHooks;
}

/** The protocol era a backend is spoken to in: probed (`auto`, preferring 2026) or fixed. */
export type ProtocolEraChoice = "auto" | "2025" | "2026";

/** Per-request options of {@link McpBackend.request}. */
export interface BackendRequestOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  onprogress?: (progress: { progress: number; total?: number; message?: string }) => void;
}

/** A request got no answer within its timeout; it may or may not have run. */
export class BackendTimeoutError extends Error {
  /** Names the backend, the method and the timeout that expired. */
  constructor(readonly label: string, readonly method: string, readonly timeoutMs: number) {
    super(`${method} on backend ${label} timed out after ${timeoutMs} ms without progress`);
    this.name = "BackendTimeoutError";
  }
}

/** A request could not be sent because the backend is not connected. */
export class BackendUnavailableError extends Error {
  /** `label` names the backend; `state` is why it is unavailable. */
  constructor(readonly label: string, readonly state: BackendState, cause?: unknown) {
    super(
      `backend ${label} is unavailable (${state})` +
        (cause instanceof Error ? `: ${cause.message}` : ""),
      { cause },
    );
    this.name = "BackendUnavailableError";
  }
}

/**
 * Most pages of one list read from a backend. The SDK client walks the pages
 * of a list itself and stops at this many with an error: a backend whose
 * `nextCursor` never runs out, or loops, fails discovery instead of holding
 * the connect forever.
 */
export const LIST_PAGE_LIMIT = 100;
/** Most items of one list accepted from a backend (a catalog is held in memory per replica). */
export const MAX_LIST_ITEMS = 100_000;
const MAX_UNHANDLED_ARRIVALS = 1_000;
const PROGRESS_TOKEN_PREFIX = "safla-";
/** Largest delay `setTimeout` honours; our own timer enforces the real timeout. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const FORWARDED_NOTIFICATIONS = [
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/resources/list_changed",
  "notifications/resources/updated",
  "notifications/message",
] as const;
/** How long a closed stdio connection waits for its child's exit status, for the log. */
const EXIT_STATUS_WAIT_MS = 2_000;
/** The 2026 protocol revision a `"2026"` backend is pinned to. */
const MODERN_VERSION = "2026-07-28";
const SERVER_REQUESTS = ["sampling/createMessage", "elicitation/create", "roots/list"] as const;

/** A supervised connection to one backend replica. */
export class McpBackend implements BackendConnection {
  readonly label: string;
  #options: BackendOptions;
  #client?: Client;
  #state: BackendState = "connecting";
  #catalog?: Catalog;
  #closing = false;
  #backoffMs: number;
  #retryTimer?: ReturnType<typeof setTimeout>;
  #restarts = 0;
  #lastError?: Error;
  #connecting?: Promise<void>;
  #pid?: number;
  #progress = new Map<
    string,
    (p: { progress: number; total?: number; message?: string }) => void
  >();
  #nextProgressToken = 0;
  #requestsSent = 0;
  /** Arrival stamps of server→client requests not yet handled, by JSON-RPC id. */
  #arrivals = new Map<string | number, ServerRequestArrival>();
  /**
   * Forwarded requests on a 2025-era stdio connection skip the SDK client
   * (see {@link DirectRequests}); set per connection, with the client it belongs to.
   */
  #direct?: { client: Client; requests: DirectRequests };
  /** Resource URIs a 2026 backend reports updates of (see {@link watchResources}). */
  #watchedUris: string[] = [];
  /** The listen stream that names {@link #watchedUris}, on the current connection. */
  #watchStream?: McpSubscription;
  #watching: Promise<void> = Promise.resolve();
  /** Pending re-opens of listen streams the server ended (cleared on close). */
  #relistenTimers = new Set<ReturnType<typeof setTimeout>>();
  #listenStreamsReopened = 0;

  /** Creates the connection object; {@link start} connects. */
  constructor(options: BackendOptions) {
    this.label = options.label;
    this.#options = options;
    this.#backoffMs = options.initialBackoffMs;
    this.#deviations = new DeviationLog(options.label, options.log ?? console.error);
    this.#token = options.oauth === undefined
      ? undefined
      : new ClientCredentialsToken(options.oauth, options.label);
  }

  /** Kinds of deviation from the spec this backend was forgiven. */
  get deviations(): readonly string[] {
    return this.#deviations.kinds;
  }

  /** The gateway's own token towards this backend, when it uses OAuth. */
  readonly #token?: ClientCredentialsToken;

  /** Deviations from the spec this backend was forgiven, each logged once. */
  readonly #deviations: DeviationLog;

  /** Current lifecycle state. */
  get state(): BackendState {
    return this.#state;
  }

  /** The catalog of the current connection, if it got that far. */
  get catalog(): Catalog | undefined {
    return this.#catalog;
  }

  /** How many times the connection was re-established after a loss. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Why the backend is not ready, when it is not. */
  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /**
   * How many requests the gateway has written to the current connection so
   * far; read it before {@link request} to order a call against the
   * server→client requests that arrive afterwards.
   */
  get requestsSent(): number {
    return this.#requestsSent;
  }

  /** The child process id of a stdio backend. */
  get pid(): number | undefined {
    return this.#pid;
  }

  /**
   * Connects and discovers the catalog. Resolves once the first attempt
   * finished, whether or not it succeeded: a failed backend keeps retrying in
   * the background and never blocks the gateway from serving the others.
   */
  start(): Promise<void> {
    this.#connecting ??= this.#connect();
    return this.#connecting;
  }

  async #connect(): Promise<void> {
    this.#setState("connecting");
    const { spec, eraCache } = this.#options;
    const key = eraKey(spec);
    const known = eraCache.get(key);
    try {
      const { client, pid } = await this.#open(known);
      this.#client = client;
      this.#pid = pid;
      const era = client.getProtocolEra() ?? "legacy";
      const discover = client.getDiscoverResult();
      eraCache.set(
        key,
        era === "modern" && discover !== undefined
          ? { kind: "modern", discover }
          : { kind: "legacy" },
      );
      const catalog = await this.#discover(client);
      if (this.#closing) return;
      if (era === "modern") await this.#listen(client, catalog.capabilities);
      this.#catalog = catalog;
      if (era === "modern" && this.#watchedUris.length > 0) {
        await this.#applyWatch().catch((error) => {
          // The backend still serves calls; its resource updates are what is lost.
          this.#lastError = new Error(
            `${this.label}: no resource subscription: ${(error as Error).message}`,
          );
        });
      }
      const hadTools = this.#restarts > 0 && this.#hadTools;
      if (catalog.tools.length > 0) this.#hadTools = true;
      if (hadTools && catalog.tools.length === 0) {
        this.#lastError = new Error(`${this.label} restarted with zero tools`);
        this.#setState("unhealthy", this.#lastError);
      } else {
        this.#lastError = undefined;
        this.#everReady = true;
        this.#diagnosis = undefined;
        this.#backoffMs = this.#options.initialBackoffMs;
        if (this.#restarts > 0) {
          this.#log(`ready again (${catalog.protocolVersion}, ${catalog.tools.length} tools)`);
        }
        this.#setState("ready");
      }
    } catch (error) {
      // A cached answer may be stale: probe again next time. A probe may itself
      // be what failed (some 2025 servers exit on any request before
      // `initialize`), so after a failed probe try the 2025 handshake directly.
      if (known !== undefined) eraCache.delete(key);
      else if (spec.kind === "stdio") eraCache.set(key, { kind: "legacy" });
      const message = error instanceof Error ? error.message : String(error);
      this.#lastError = this.#diagnosis === undefined
        ? (error instanceof Error ? error : new Error(message))
        : new Error(`${message}; ${this.#diagnosis}`, { cause: error });
      const client = this.#client;
      this.#client = undefined;
      await client?.close().catch(() => {});
      this.#logExit(this.#stdio);
      this.#scheduleReconnect(message);
    } finally {
      this.#connecting = undefined;
    }
  }

  #hadTools = false;
  /** Whether any connect of this backend succeeded (the start budget is spent then). */
  #everReady = false;
  /** The stdio transport of the latest connect, for its child's exit status. */
  #stdio?: DenoStdioClientTransport;
  /** What the child's stderr said that only a user can fix, for {@link lastError}. */
  #diagnosis?: string;

  #log(line: string): void {
    (this.#options.log ?? console.error)(`${this.label}: ${line}`);
  }

  async #open(cached: PriorDiscovery | undefined): Promise<{ client: Client; pid?: number }> {
    const { spec } = this.#options;
    const era = this.#options.protocolEra ?? "auto";
    // What was learnt of the server only helps a choice it agrees with.
    const known = era === "auto" || (era === "2026") === (cached?.kind === "modern")
      ? cached
      : undefined;
    const connectTimeoutMs = this.#everReady
      ? this.#options.connectTimeoutMs
      : Math.max(this.#options.startTimeoutMs ?? 0, this.#options.connectTimeoutMs);
    const client = new Client(
      { name: "safla-gateway", version: "0.1.0" },
      {
        capabilities: {
          sampling: {},
          elicitation: { form: {}, url: {} },
          roots: { listChanged: true },
        },
        versionNegotiation: {
          mode: era === "2025" ? "legacy" : era === "2026" ? { pin: MODERN_VERSION } : "auto",
          // The probe is the first request a fresh stdio server sees: one started by
          // npx with a cold cache, or on a loaded machine, answers it late, so it gets
          // the whole connect budget rather than a few seconds.
          probe: { timeoutMs: connectTimeoutMs },
        },
        inputRequired: { autoFulfill: false },
        listMaxPages: LIST_PAGE_LIMIT,
      },
    );
    this.#installHandlers(client);
    client.onerror = (error) => {
      if (error.message.startsWith("ignored non-JSON line")) {
        this.#deviations.note("stdout-not-json", error.message);
      } else {
        this.#deviations.note(`transport-error: ${error.message.slice(0, 60)}`, error.message);
      }
    };
    let pid: number | undefined;
    let transport;
    if (spec.kind === "stdio") {
      const stdio = new DenoStdioClientTransport({
        command: spec.command,
        args: spec.args,
        env: resolveSecretRefs(spec.env, `${this.label} env`),
        cwd: spec.cwd,
        stderrPrefix: `[${this.label}] `,
        onDiagnosis: (diagnosis) => {
          if (this.#diagnosis === diagnosis) return;
          this.#diagnosis = diagnosis;
          this.#log(diagnosis);
        },
      });
      transport = stdio;
      this.#stdio = stdio;
      client.onclose = () => this.#onClosed(client, stdio);
      await client.connect(stdio, { timeout: connectTimeoutMs, prior: known });
      // A 2025 stdio wire is plain JSON-RPC lines: forwarded requests go
      // straight onto it. A 2026 connection keeps the SDK, which owns its envelope.
      const direct = (client.getProtocolEra() ?? "legacy") === "legacy"
        ? new DirectRequests((message) => stdio.send(message))
        : undefined;
      this.#interceptProgress(stdio, client.getProtocolEra() === "modern", direct);
      this.#direct = direct === undefined ? undefined : { client, requests: direct };
      pid = stdio.pid;
    } else {
      // Only the gateway's own credentials: nothing of a client's request reaches here.
      const requestInit: RequestInit = {
        headers: resolveSecretRefs(spec.headers, `${this.label} header`) ?? {},
      };
      const fetch = tolerantFetch(this.#deviations, this.#token);
      transport = spec.kind === "sse"
        ? new SSEClientTransport(new URL(spec.url), { requestInit, fetch })
        : new StreamableHTTPClientTransport(new URL(spec.url), { requestInit, fetch });
      client.onclose = () => this.#onClosed(client);
      await client.connect(transport, { timeout: connectTimeoutMs, prior: known });
      this.#interceptProgress(transport, client.getProtocolEra() === "modern");
    }
    return { client, pid };
  }

  #installHandlers(client: Client): void {
    for (const method of FORWARDED_NOTIFICATIONS) {
      client.setNotificationHandler(method, (notification) => {
        if (method.endsWith("/list_changed")) void this.#refresh(client);
        this.#options.hooks?.onNotification?.(this, {
          method,
          params: notification.params as Record<string, unknown> | undefined,
        });
      });
    }
    for (const method of SERVER_REQUESTS) {
      client.setRequestHandler(method, async (request, ctx) => {
        const hook = this.#options.hooks?.onServerRequest;
        if (hook === undefined) throw new Error(`${this.label}: no route for ${method}`);
        const arrival = this.#arrivals.get(ctx.mcpReq.id) ??
          { requestsSentBefore: this.#requestsSent };
        this.#arrivals.delete(ctx.mcpReq.id);
        const answer = await hook(
          this,
          { method, params: request.params },
          ctx.mcpReq.signal,
          arrival,
        );
        // deno-lint-ignore no-explicit-any
        return answer as any;
      });
    }
  }

  async #discover(client: Client): Promise<Catalog> {
    const capabilities = client.getServerCapabilities() ?? {};
    const timeout = this.#options.connectTimeoutMs;
    const tools = capabilities.tools
      ? await collectPages(
        `${this.label}: tools/list`,
        (cursor) => client.listTools({ cursor }, { timeout }),
        (r) => r.tools,
      )
      : [];
    const resources = capabilities.resources
      ? await collectPages(
        `${this.label}: resources/list`,
        (cursor) => client.listResources({ cursor }, { timeout }),
        (r) => r.resources,
      )
      : [];
    const resourceTemplates = capabilities.resources
      ? await collectPages(
        `${this.label}: resources/templates/list`,
        (cursor) => client.listResourceTemplates({ cursor }, { timeout }),
        (r) => r.resourceTemplates,
      ).catch(() => [])
      : [];
    const prompts = capabilities.prompts
      ? await collectPages(
        `${this.label}: prompts/list`,
        (cursor) => client.listPrompts({ cursor }, { timeout }),
        (r) => r.prompts,
      )
      : [];
    return {
      tools,
      resources,
      resourceTemplates,
      prompts,
      capabilities,
      serverInfo: client.getServerVersion(),
      era: client.getProtocolEra() ?? "legacy",
      protocolVersion: client.getNegotiatedProtocolVersion() ?? "",
    };
  }

  /**
   * A 2026-07-28 server sends list changes only on a `subscriptions/listen`
   * stream; open one for every list the server says can change. A server that
   * refuses it still works, with a catalog that is re-read on reconnect only.
   * A stream the server ends (it restarted, or a proxy cut it) is opened
   * again, and the catalog re-read, since changes in between were not heard.
   */
  async #listen(client: Client, capabilities: ServerCapabilities): Promise<void> {
    const filter = {
      toolsListChanged: capabilities.tools?.listChanged === true || undefined,
      promptsListChanged: capabilities.prompts?.listChanged === true || undefined,
      resourcesListChanged: capabilities.resources?.listChanged === true || undefined,
    };
    if (!filter.toolsListChanged && !filter.promptsListChanged && !filter.resourcesListChanged) {
      return;
    }
    const open = async (): Promise<void> => {
      const stream = await client.listen(filter, { timeout: this.#options.connectTimeoutMs });
      this.#reopenWhenEnded(client, stream, async () => {
        await open();
        await this.#refresh(client);
      });
    };
    try {
      await open();
    } catch (error) {
      this.#lastError = new Error(
        `${this.label}: no list-change subscription: ${(error as Error).message}`,
      );
    }
  }

  /**
   * When the server ends `stream` (rather than us closing it), runs `reopen`
   * after a backoff, again with a longer one while it fails, for as long as
   * `client` is the live connection.
   */
  #reopenWhenEnded(client: Client, stream: McpSubscription, reopen: () => Promise<void>): void {
    void stream.closed.then((how) => {
      if (how === "local" || this.#closing || client !== this.#client) return;
      this.#listenStreamsReopened++;
      this.#lastError = new Error(`${this.label}: the server ended a listen stream (${how})`);
      const attempt = (delayMs: number): void => {
        const timer = setTimeout(async () => {
          this.#relistenTimers.delete(timer);
          if (this.#closing || client !== this.#client) return;
          try {
            await reopen();
          } catch (error) {
            this.#lastError = new Error(
              `${this.label}: cannot re-open a listen stream: ${(error as Error).message}`,
            );
            attempt(Math.min(delayMs * 2, this.#options.maxBackoffMs));
          }
        }, delayMs);
        this.#relistenTimers.add(timer);
      };
      attempt(this.#options.initialBackoffMs);
    });
  }

  /** How many listen streams the servers ended and this connection opened again. */
  get listenStreamsReopened(): number {
    return this.#listenStreamsReopened;
  }

  /**
   * Has a 2026-07-28 backend report updates of exactly `uris` (that era has
   * no `resources/subscribe`: a `subscriptions/listen` stream names the
   * resources). The list is kept and applied again after every reconnect;
   * on a 2025 connection it is only kept. A new stream opens before the
   * previous one closes, so no update falls between the two.
   */
  async watchResources(uris: readonly string[]): Promise<void> {
    this.#watchedUris = [...uris];
    await this.#applyWatch();
  }

  /** Runs one watch update after another, each with the list as it is by then. */
  #applyWatch(): Promise<void> {
    const run = this.#watching.then(() => this.#openWatchStream());
    this.#watching = run.catch(() => {});
    return run;
  }

  async #openWatchStream(): Promise<void> {
    const client = this.#client;
    const previous = this.#watchStream;
    const modern = client !== undefined && client.getProtocolEra() === "modern" &&
      this.#catalog?.capabilities.resources?.subscribe === true;
    if (modern && this.#watchedUris.length > 0) {
      const subscription = await client.listen(
        { resourceSubscriptions: [...this.#watchedUris] },
        { timeout: this.#options.connectTimeoutMs },
      );
      this.#watchStream = subscription;
      // Replaced streams end "local"; one the server ends is opened again
      // with the list as it is by then.
      this.#reopenWhenEnded(client, subscription, () => this.#applyWatch());
    } else {
      this.#watchStream = undefined;
    }
    await previous?.close().catch(() => {});
  }

  async #refresh(client: Client): Promise<void> {
    try {
      const catalog = await this.#discover(client);
      if (client !== this.#client) return;
      this.#catalog = catalog;
      this.#setState(catalog.tools.length === 0 && this.#hadTools ? "unhealthy" : "ready");
    } catch (error) {
      this.#lastError = error instanceof Error ? error : new Error(String(error));
    }
  }

  /** Re-reads the catalog of the live connection. */
  async refreshCatalog(): Promise<Catalog | undefined> {
    if (this.#client !== undefined) await this.#refresh(this.#client);
    return this.#catalog;
  }

  #onClosed(client: Client, stdio?: DenoStdioClientTransport): void {
    if (client !== this.#client || this.#closing) return;
    this.#client = undefined;
    this.#pid = undefined;
    const error = new Error(`${this.label}: connection closed`);
    this.#lastError = error;
    this.#scheduleReconnect(error.message);
    this.#logExit(stdio, (how) => {
      if (this.#lastError === error) {
        this.#lastError = new Error(`${this.label}: connection closed (the server ${how})`);
      }
    });
  }

  /** Logs how a stdio child ended; its status may land a moment after its stdout closed. */
  #logExit(stdio: DenoStdioClientTransport | undefined, then?: (how: string) => void): void {
    void stdio?.exitDescription(EXIT_STATUS_WAIT_MS).then((how) => {
      if (how === undefined) return;
      this.#log(`the server ${how}`);
      then?.(how);
    });
  }

  /** Retries after a backoff; `reason` (without the diagnosis, logged once on its own) is logged. */
  #scheduleReconnect(reason: string): void {
    if (this.#closing) return;
    this.#setState("backoff", this.#lastError);
    // Jittered between half and the whole backoff, so replicas (and nodes) that
    // failed together, e.g. when a shared server restarted, do not retry in lockstep.
    const delayMs = Math.round(this.#backoffMs * (0.5 + Math.random() / 2));
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs);
    clearTimeout(this.#retryTimer);
    this.#log(`${reason}; reconnecting in ${delayMs} ms`);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#restarts++;
      void this.start();
    }, delayMs);
  }

  #setState(state: BackendState, error?: Error): void {
    if (this.#closing && state !== "closed") return;
    this.#state = state;
    this.#options.hooks?.onStateChange?.(this, state, error);
  }

  /**
   * Sends one request and returns its raw result. `input_required` results
   * (2026-07-28) come back as results, for the gateway to hand to its client.
   *
   * Progress uses a token of our own, caught at the transport before the SDK
   * sees it: the SDK client dispatches notifications on a longer promise chain
   * than responses, so it drops the last progress of a fast call. The timeout
   * restarts on every progress notification, so long calls that report
   * progress never time out.
   */
  async request(
    method: string,
    params: Record<string, unknown> | undefined,
    options: BackendRequestOptions = {},
  ): Promise<Record<string, unknown>> {
    const client = this.#client;
    if (client === undefined || (this.#state !== "ready" && this.#state !== "unhealthy")) {
      throw new BackendUnavailableError(this.label, this.#state, this.#lastError);
    }
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs;
    const direct = this.#direct;
    if (direct !== undefined && direct.client === client) {
      return await this.#requestDirect(direct.requests, method, params, options, timeoutMs);
    }
    const timeout = new AbortController();
    let timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signal = options.signal === undefined
      ? timeout.signal
      : AbortSignal.any([options.signal, timeout.signal]);
    let sent = params;
    let token: string | undefined;
    if (options.onprogress !== undefined) {
      const onprogress = options.onprogress;
      ({ token, sent } = this.#withProgressToken(params));
      this.#progress.set(token, (p) => {
        clearTimeout(timer);
        timer = setTimeout(() => timeout.abort(), timeoutMs);
        onprogress(p);
      });
    }
    try {
      const result = await client.request(
        // deno-lint-ignore no-explicit-any
        { method: method as any, params: sent },
        FORWARDED_RESULT,
        { signal, timeout: MAX_TIMER_MS, allowInputRequired: true },
      );
      return result as Record<string, unknown>;
    } catch (error) {
      if (timeout.signal.aborted && !options.signal?.aborted) {
        throw new BackendTimeoutError(this.label, method, timeoutMs);
      }
      throw invalidResultError(error, method, this.#deviations);
    } finally {
      clearTimeout(timer);
      if (token !== undefined) this.#progress.delete(token);
    }
  }

  /** `params` with a progress token of our own (routed by {@link #interceptProgress}). */
  #withProgressToken(
    params: Record<string, unknown> | undefined,
  ): { token: string; sent: Record<string, unknown> } {
    const token = `${PROGRESS_TOKEN_PREFIX}${this.#nextProgressToken++}`;
    const meta = (params?._meta ?? {}) as Record<string, unknown>;
    return { token, sent: { ...params, _meta: { ...meta, progressToken: token } } };
  }

  /** {@link request} on a connection whose requests bypass the SDK client. */
  async #requestDirect(
    requests: DirectRequests,
    method: string,
    params: Record<string, unknown> | undefined,
    options: BackendRequestOptions,
    timeoutMs: number,
  ): Promise<Record<string, unknown>> {
    if (requests.pendingCount >= MAX_PENDING_DIRECT) {
      throw new BackendUnavailableError(
        this.label,
        this.#state,
        new Error(`${MAX_PENDING_DIRECT} requests are already pending on it`),
      );
    }
    const requestOptions = {
      signal: options.signal,
      timeoutMs,
      timeoutError: () => new BackendTimeoutError(this.label, method, timeoutMs),
    };
    const onprogress = options.onprogress;
    if (onprogress === undefined) {
      return await requests.request(method, params, requestOptions).result;
    }
    const { token, sent } = this.#withProgressToken(params);
    const request = requests.request(method, sent, requestOptions);
    this.#progress.set(token, (p) => {
      request.restartTimeout();
      onprogress(p);
    });
    try {
      return await request.result;
    } finally {
      this.#progress.delete(token);
    }
  }

  /**
   * Routes our own progress tokens before the SDK's dispatch sees them, counts
   * the requests written, and stamps each server→client request on arrival.
   */
  #interceptProgress(transport: Transport, modern: boolean, direct?: DirectRequests): void {
    const send = transport.send.bind(transport);
    transport.send = (message, options) => {
      if ("method" in message && "id" in message) this.#requestsSent++;
      return send(message, options);
    };
    if (direct !== undefined) {
      const innerClose = transport.onclose;
      transport.onclose = () => {
        direct.close();
        innerClose?.();
      };
    }
    const inner = transport.onmessage;
    transport.onmessage = (message, extra) => {
      if (direct?.deliver(message)) return;
      if (modern) repairModernResponse(message, this.#deviations);
      const m = message as {
        method?: string;
        id?: string | number;
        params?: Record<string, unknown>;
      };
      if (m.id !== undefined && m.method !== undefined) {
        // Bounded: an entry lives only until its handler runs, microtasks later.
        if (this.#arrivals.size >= MAX_UNHANDLED_ARRIVALS) this.#arrivals.clear();
        this.#arrivals.set(m.id, { requestsSentBefore: this.#requestsSent });
      }
      if (m.method === "notifications/progress") {
        const token = m.params?.progressToken;
        if (typeof token === "string" && token.startsWith(PROGRESS_TOKEN_PREFIX)) {
          const { progressToken: _, ...progress } = m.params!;
          this.#progress.get(token)?.(
            progress as { progress: number; total?: number; message?: string },
          );
          return;
        }
      }
      inner?.(message, extra);
    };
  }

  /** Closes the connection (and ends a stdio child); no reconnect follows. */
  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const timer of this.#relistenTimers) clearTimeout(timer);
    this.#relistenTimers.clear();
    const client = this.#client;
    this.#client = undefined;
    await this.#connecting?.catch(() => {});
    await client?.close().catch(() => {});
    // A connect that was in flight may have produced a client after we looked.
    const late = this.#client as Client | undefined;
    this.#client = undefined;
    await late?.close().catch(() => {});
    this.#state = "closed";
    this.#options.hooks?.onStateChange?.(this, "closed");
  }
}

/**
 * Reads every page of a backend's list, bounded: at most
 * {@link LIST_PAGE_LIMIT} pages and {@link MAX_LIST_ITEMS} items, and a
 * cursor seen before is a loop. Each bound fails with an error that names
 * the backend and the list (`what`).
 */
export async function collectPages<R, T>(
  what: string,
  page: (cursor: string | undefined) => Promise<R & { nextCursor?: string }>,
  items: (result: R) => T[],
): Promise<T[]> {
  const out: T[] = [];
  const cursors = new Set<string>();
  let cursor: string | undefined;
  for (let i = 0; i < LIST_PAGE_LIMIT; i++) {
    let result;
    try {
      result = await page(cursor);
    } catch (error) {
      if (error instanceof SdkError && error.code === SdkErrorCode.ListPaginationExceeded) {
        throw new Error(`${what}: more than ${LIST_PAGE_LIMIT} pages (a nextCursor loop?)`);
      }
      throw error;
    }
    out.push(...items(result));
    if (out.length > MAX_LIST_ITEMS) {
      throw new Error(`${what}: more than ${MAX_LIST_ITEMS} items, refused`);
    }
    cursor = result.nextCursor;
    if (cursor === undefined) return out;
    if (cursors.has(cursor)) throw new Error(`${what}: nextCursor repeats a cursor (a loop)`);
    cursors.add(cursor);
  }
  throw new Error(`${what}: more than ${LIST_PAGE_LIMIT} pages (a nextCursor loop?)`);
}
