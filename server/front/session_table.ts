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
import {
  DEFAULT_OUTBOUND_LIMITS,
  OutboundBudget,
  OutboundGate,
  type OutboundLimits,
} from "./outbound_gate.ts";
import { BoundedStreamableTransport } from "./bounded_transport.ts";
import {
  admitSession,
  DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
  RETRY_AFTER_SECONDS,
  type SessionView,
} from "./session_limits.ts";

/** Default of {@link SessionTableOptions.sessionIdleMs}. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60_000;

/** How many times longer a session with an open GET stream may stay idle. */
const LISTENING_IDLE_FACTOR = 4;

/** Options of {@link SessionTable}. */
export interface SessionTableOptions {
  gateway: Gateway;
  codec: ResumeCodec;
  maxRequestBodyBytes: number;
  /** Most concurrent sessions (Streamable HTTP and SSE together); see session_limits.ts. */
  maxSessions: number;
  /** Most concurrent sessions of one principal (default {@link DEFAULT_MAX_SESSIONS_PER_PRINCIPAL}). */
  maxSessionsPerPrincipal?: number;
  /** Shares sessions with the other nodes of a cluster; local only when absent. */
  sessionDirectory?: SessionDirectory;
  /** A session idle this long is closed (default {@link DEFAULT_SESSION_IDLE_MS}). */
  sessionIdleMs?: number;
  /** Bound on what waits for a client on its notification stream (outbound_gate.ts). */
  outboundLimits?: OutboundLimits;
  /** Bound on what waits on all the notification streams of the node together. */
  maxOutboundBytes?: number;
}

/** A 2025 session over HTTP: its state plus the transport its messages travel on. */
export class HttpSession extends Session {
  declare readonly id: string;
  readonly transport: WebStandardStreamableHTTPServerTransport | SseFrontTransport;
  /** The backlog of its notification stream (the GET stream, or the SSE stream). */
  readonly outbound: OutboundGate;
  /**
   * The client sent something beyond its handshake: sessions never used are
   * the first to give way when slots run out.
   */
  used = false;
  /** Its `initialize` is not answered yet: it cannot give way to another newcomer. */
  opening = true;

  constructor(
    gateway: Gateway,
    codec: ResumeCodec,
    transport: WebStandardStreamableHTTPServerTransport | SseFrontTransport,
    options: SessionOptions & { id: string },
    outbound: OutboundGate,
  ) {
    super(gateway, codec, options);
    this.transport = transport;
    this.outbound = outbound;
  }
}

/** The open 2025 HTTP sessions of one node: see the module doc. */
export class SessionTable {
  readonly #options: SessionTableOptions;
  readonly #sessions = new Map<string, HttpSession>();
  /** Sessions whose client holds the GET stream open for notifications. */
  readonly #listening = new Set<string>();
  readonly #idleMs: number;
  readonly #outboundBudget: OutboundBudget;
  readonly #sweep: ReturnType<typeof setInterval>;
  /** Stops following session removals by other nodes. */
  readonly #unwatch: Promise<() => Promise<void>>;

  constructor(options: SessionTableOptions) {
    this.#options = options;
    this.#idleMs = options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
    this.#outboundBudget = new OutboundBudget(options.maxOutboundBytes);
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

  /**
   * Makes room for a new session of `principal`, evicting an idle one if a
   * limit is reached (session_limits.ts); a refusal says why and when to retry.
   */
  admit(
    principal: Principal = ANONYMOUS,
  ): { ok: true } | { ok: false; reason: string; retryAfterSeconds: number } {
    const nowMs = Date.now();
    const views: SessionView[] = [];
    for (const [id, session] of this.#sessions) {
      views.push({
        id,
        owner: session.ownerKey,
        lastSeenMs: session.lastSeenMs,
        used: session.used,
        busy: session.opening || this.#listening.has(id) ||
          session.transport instanceof SseFrontTransport || session.callCount > 0,
      });
    }
    const decision = admitSession(views, principalKey(principal), {
      maxSessions: this.#options.maxSessions,
      maxSessionsPerPrincipal: this.#options.maxSessionsPerPrincipal ??
        DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
    }, nowMs);
    if (!decision.admit) {
      return { ok: false, reason: decision.reason, retryAfterSeconds: RETRY_AFTER_SECONDS };
    }
    if (decision.evict !== undefined) this.#evict(decision.evict);
    return { ok: true };
  }

  /**
   * The client of `session` sent a request; `realUse` when it is more than
   * its handshake (`notifications/initialized`).
   */
  touch(session: HttpSession, realUse: boolean): void {
    session.lastSeenMs = Date.now();
    if (realUse) session.used = true;
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
    const outbound = new OutboundGate(
      this.#options.outboundLimits ?? DEFAULT_OUTBOUND_LIMITS,
      this.#outboundBudget,
    );
    const transport = new BoundedStreamableTransport(outbound, {
      sessionIdGenerator: () => id,
      onsessioninitialized: async () => {
        // Awaited, so that any node finds the session once its client has the id;
        // a burst of these shares a few store writes (session_directory.ts).
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
    const session = new HttpSession(
      gateway,
      codec,
      transport,
      { id, onStateChange: save, principal },
      outbound,
    );
    session.used = adoptedId !== undefined;
    session.restoring = adoptedId !== undefined;
    transport.onclose = () => this.#drop(session);
    // Counted from now, not from its initialize's answer: concurrent admissions
    // must see each other (see opened).
    this.#sessions.set(id, session);
    await session.server.connect(transport);
    return session;
  }

  /**
   * The `initialize` of `session` was answered: from now on it may give way;
   * refused, it is dropped (its client never learned the id).
   */
  opened(session: HttpSession): void {
    session.opening = false;
    const transport = session.transport;
    if (transport instanceof WebStandardStreamableHTTPServerTransport && !transport.sessionId) {
      this.#evict(session.id);
    }
  }

  /** Opens an HTTP+SSE session; the GET answers with `transport.response`. */
  async openSse(endpoint: string, principal: Principal = ANONYMOUS): Promise<HttpSession> {
    const id = crypto.randomUUID();
    const outbound = new OutboundGate(
      this.#options.outboundLimits ?? DEFAULT_OUTBOUND_LIMITS,
      this.#outboundBudget,
    );
    const transport = new SseFrontTransport(endpoint, id, outbound);
    const { gateway, codec } = this.#options;
    const session = new HttpSession(gateway, codec, transport, { id, principal }, outbound);
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
    const message = params as LoggingMessageNotification["params"];
    for (const { server, outbound } of this.#sessions.values()) {
      // A full stream would drop it anyway: skip the encoding (a flood fans out to every session).
      if (outbound.full) outbound.skip();
      else void server.sendLoggingMessage(message).catch(() => {});
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
      this.#evict(id);
    }
  }

  /** Closes session `id` for good (its client gets 404 and may initialize again). */
  #evict(id: string): void {
    const session = this.#sessions.get(id);
    if (session === undefined) return;
    this.#sessions.delete(id);
    this.#listening.delete(id);
    void session.close();
    void this.#options.sessionDirectory?.remove(id).catch(() => {});
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
    if (directory === undefined) return undefined;
    const record = await directory.load(id);
    if (record === undefined) return undefined;
    // Records written before sessions were bound to callers belong to no one authenticated.
    if ((record.owner ?? principalKey(ANONYMOUS)) !== principalKey(principal)) return undefined;
    if (!this.admit(principal).ok) return undefined;
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
    session.opening = false;
    return session;
  }
}
