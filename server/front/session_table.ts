/**
 * The 2025 sessions one node serves over HTTP (Streamable HTTP and HTTP+SSE):
 * opening them under a bound, taking over sessions another node opened (from
 * the session directory), expiring idle ones, and telling all of them what
 * the gateway announces.
 *
 * @module
 */
import {
  type LoggingMessageNotification,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import type { Gateway, ListKind } from "../gateway/gateway.ts";
import { type ResumeCodec, sendListChanged } from "./front.ts";
import type { SessionDirectory } from "../control/session_directory.ts";
import { SseFrontTransport } from "./sse_front.ts";
import { MAX_SUBSCRIPTIONS_PER_SESSION, Session, type SessionOptions } from "./session.ts";
import { ANONYMOUS, type Principal, principalKey } from "@safla/core/access";

/** Default of {@link SessionTableOptions.sessionIdleMs}. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60_000;

/** How many times longer a session with an open GET stream may stay idle. */
const LISTENING_IDLE_FACTOR = 4;

/** Options of {@link SessionTable}. */
export interface SessionTableOptions {
  gateway: Gateway;
  codec: ResumeCodec;
  maxRequestBodyBytes: number;
  /** Most concurrent sessions (Streamable HTTP and SSE together); more are refused. */
  maxSessions: number;
  /** Shares sessions with the other nodes of a cluster; local only when absent. */
  sessionDirectory?: SessionDirectory;
  /** A session idle this long is closed (default {@link DEFAULT_SESSION_IDLE_MS}). */
  sessionIdleMs?: number;
}

/** A 2025 session over HTTP: its state plus the transport its messages travel on. */
export class HttpSession extends Session {
  declare readonly id: string;
  readonly transport: WebStandardStreamableHTTPServerTransport | SseFrontTransport;

  constructor(
    gateway: Gateway,
    codec: ResumeCodec,
    transport: WebStandardStreamableHTTPServerTransport | SseFrontTransport,
    options: SessionOptions & { id: string },
  ) {
    super(gateway, codec, options);
    this.transport = transport;
  }
}

/** The open 2025 HTTP sessions of one node: see the module doc. */
export class SessionTable {
  readonly #options: SessionTableOptions;
  readonly #sessions = new Map<string, HttpSession>();
  /** Sessions whose client holds the GET stream open for notifications. */
  readonly #listening = new Set<string>();
  readonly #idleMs: number;
  readonly #sweep: ReturnType<typeof setInterval>;
  /** Stops following session removals by other nodes. */
  readonly #unwatch: Promise<() => Promise<void>>;

  constructor(options: SessionTableOptions) {
    this.#options = options;
    this.#idleMs = options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
    this.#sweep = setInterval(
      () => this.#expireIdle(Date.now()),
      Math.max(1_000, Math.min(this.#idleMs / 4, 60_000)),
    );
    // A session deleted on another node ends here too, not at its idle expiry.
    this.#unwatch = options.sessionDirectory?.watchRemovals?.((id) => {
      const session = this.#sessions.get(id);
      if (session === undefined) return;
      this.#drop(session);
      void session.close().catch(() => {});
    }).catch(() => async () => {}) ?? Promise.resolve(async () => {});
  }

  /** Number of open sessions. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Number of sessions whose client opened the GET stream. */
  get listeningCount(): number {
    return this.#listening.size;
  }

  /** True when no more sessions may open on this node. */
  get full(): boolean {
    return this.#sessions.size >= this.#options.maxSessions;
  }

  /**
   * The open session `id`, if this node serves it and `principal` opened it:
   * another caller is told nothing more than for an unknown id.
   */
  get(id: string, principal: Principal = ANONYMOUS): HttpSession | undefined {
    const session = this.#sessions.get(id);
    return session?.ownerKey === principalKey(principal) ? session : undefined;
  }

  /**
   * The session `id` of `principal`: one this node serves, or one it takes
   * over from the directory.
   */
  async find(
    id: string,
    req: Request,
    principal: Principal = ANONYMOUS,
  ): Promise<HttpSession | undefined> {
    if (this.#sessions.has(id)) return this.get(id, principal);
    return await this.#adopt(id, req, principal);
  }

  /** Notes that the client of `id` opened its GET stream. */
  listening(id: string): void {
    if (this.#sessions.has(id)) this.#listening.add(id);
  }

  /**
   * Opens a Streamable HTTP session for a client's `initialize`. `adoptedId`
   * reuses the id of a session another node opened (the caller replays its
   * initialize); otherwise a new id is drawn and, with a directory, the
   * session is shared once initialized.
   */
  async openStreamable(
    initialize: Record<string, unknown> | undefined,
    adoptedId?: string,
    principal: Principal = ANONYMOUS,
  ): Promise<HttpSession> {
    if (this.full) throw new Error("session limit reached");
    const { gateway, codec, sessionDirectory: directory } = this.#options;
    const id = adoptedId ?? crypto.randomUUID();
    // Saves run one after another, each writing the state as it is by then.
    let saved = Promise.resolve();
    const save = (): void => {
      if (directory === undefined || initialize === undefined) return;
      if (this.#sessions.get(id) !== session) return;
      saved = saved.then(() =>
        directory.save(id, { initialize, owner: session.ownerKey, ...session.state() }).catch(
          () => {
            // The next change or takeover retries; the session itself is fine.
          },
        )
      );
    };
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      onsessioninitialized: async () => {
        this.#sessions.set(id, session);
        if (directory !== undefined && adoptedId === undefined && initialize !== undefined) {
          await directory.save(id, { initialize, owner: session.ownerKey });
        }
      },
      onsessionclosed: async () => {
        this.#drop(session);
        await directory?.remove(id).catch(() => {});
      },
      maxRequestBodySize: this.#options.maxRequestBodyBytes,
    });
    const session = new HttpSession(gateway, codec, transport, {
      id,
      onStateChange: save,
      principal,
    });
    session.restoring = adoptedId !== undefined;
    transport.onclose = () => this.#drop(session);
    await session.server.connect(transport);
    return session;
  }

  /** Opens an HTTP+SSE session; the GET answers with `transport.response`. */
  async openSse(endpoint: string, principal: Principal = ANONYMOUS): Promise<HttpSession> {
    if (this.full) throw new Error("session limit reached");
    const id = crypto.randomUUID();
    const transport = new SseFrontTransport(endpoint, id);
    const session = new HttpSession(this.#options.gateway, this.#options.codec, transport, {
      id,
      principal,
    });
    transport.onclose = () => this.#drop(session);
    this.#sessions.set(id, session);
    await session.server.connect(transport);
    return session;
  }

  /** Tells every session's client that a list changed. */
  listChanged(kind: ListKind): void {
    for (const { server } of this.#sessions.values()) sendListChanged(server, kind);
  }

  /** Tells the clients subscribed to `uri` that it changed. */
  resourceUpdated(uri: string): void {
    for (const session of this.#sessions.values()) {
      if (!session.subscriptions.has(uri)) continue;
      void session.server.sendResourceUpdated({ uri }).catch(() => {});
    }
  }

  /** Passes a backend's log line to every session's client. */
  log(params: Record<string, unknown>): void {
    for (const { server } of this.#sessions.values()) {
      const message = params as LoggingMessageNotification["params"];
      void server.sendLoggingMessage(message).catch(() => {});
    }
  }

  /** Closes every session and stops expiring them. */
  async close(): Promise<void> {
    clearInterval(this.#sweep);
    await (await this.#unwatch)();
    const open = [...this.#sessions.values()];
    this.#sessions.clear();
    this.#listening.clear();
    await Promise.all(open.map((s) => s.close()));
  }

  /** Forgets `session` once its transport closed, ending what it still holds. */
  #drop(session: HttpSession): void {
    session.end();
    if (this.#sessions.get(session.id) !== session) return;
    this.#sessions.delete(session.id);
    this.#listening.delete(session.id);
  }

  #expireIdle(nowMs: number): void {
    for (const [id, session] of this.#sessions) {
      // A client holding the GET stream open is waiting for notifications, not
      // idle; it still expires eventually, in case it vanished half-open.
      const limitMs = this.#listening.has(id) ? this.#idleMs * LISTENING_IDLE_FACTOR : this.#idleMs;
      if (nowMs - session.lastSeenMs < limitMs) continue;
      this.#sessions.delete(id);
      this.#listening.delete(id);
      void session.close();
      void this.#options.sessionDirectory?.remove(id).catch(() => {});
    }
  }

  /**
   * Serves a session this node has not seen: found in the directory, it is
   * re-created under the same id by replaying the client's initialize, then
   * what the client set afterwards through the same handlers, so the
   * backends behind this node hear it too (a subscription, a log level).
   */
  async #adopt(
    id: string,
    req: Request,
    principal: Principal,
  ): Promise<HttpSession | undefined> {
    const directory = this.#options.sessionDirectory;
    if (directory === undefined || this.full) return undefined;
    const record = await directory.load(id);
    if (record === undefined) return undefined;
    // Records written before sessions were bound to callers belong to no one authenticated.
    if ((record.owner ?? principalKey(ANONYMOUS)) !== principalKey(principal)) return undefined;
    const session = await this.openStreamable(record.initialize, id, principal);
    const transport = session.transport as WebStandardStreamableHTTPServerTransport;
    const version = String(record.initialize.protocolVersion ?? "");
    const replay = async (body: Record<string, unknown>, inSession: boolean) => {
      const response = await transport.handleRequest(
        new Request(req.url, {
          method: "POST",
          headers: {
            host: req.headers.get("host") ?? "localhost",
            "content-type": "application/json",
            accept: "application/json, text/event-stream",
            ...(inSession ? { "mcp-session-id": id, "mcp-protocol-version": version } : {}),
          },
          body: JSON.stringify({ jsonrpc: "2.0", ...body }),
        }),
      );
      // The stream ends once the handler has answered.
      await response.text().catch(() => "");
      return response;
    };
    const init = await replay({ id: 0, method: "initialize", params: record.initialize }, false);
    if (!init.ok || this.#sessions.get(id) !== session) {
      await session.close();
      return undefined;
    }
    await replay({ method: "notifications/initialized" }, true);
    if (record.logLevel !== undefined) {
      await replay({
        id: "safla-restore-level",
        method: "logging/setLevel",
        params: { level: record.logLevel },
      }, true);
    }
    const uris = (record.subscriptions ?? []).slice(0, MAX_SUBSCRIPTIONS_PER_SESSION);
    for (const [i, uri] of uris.entries()) {
      await replay({
        id: `safla-restore-subscription-${i}`,
        method: "resources/subscribe",
        params: { uri },
      }, true);
    }
    session.restoring = false;
    return session;
  }
}
