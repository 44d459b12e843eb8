/**
 * One 2025 client session, all its state in one place: the SDK `Server` that
 * speaks for the gateway on it, what the client set after `initialize` (log
 * level, resource subscriptions), the calls the direct lane serves for it
 * (for cancellation) and the questions pushed to it that wait for answers.
 * Streamable HTTP, HTTP+SSE and stdio sessions are all of this kind.
 *
 * @module
 */
import { type LoggingLevel, ProtocolError, type Server } from "@modelcontextprotocol/server";
import type { Gateway } from "../gateway/gateway.ts";
import { INTERNAL_ERROR, INVALID_PARAMS } from "../gateway/jsonrpc_codes.ts";
import { createFrontServer, type ResumeCodec } from "./front.ts";
import { ANONYMOUS, type Principal, principalKey } from "@safla/core/access";
import type { CallOrigin } from "./tool_call.ts";

/** A JSON-RPC request id. */
export type RequestId = string | number;

/** Bound on resource subscriptions per client session. */
export const MAX_SUBSCRIPTIONS_PER_SESSION = 1_024;

/** At most this many pushed questions wait for answers per session. */
export const MAX_QUESTIONS_PER_SESSION = 256;

/**
 * What a 2025 session's client set after `initialize`: the log level it asked
 * for (absent: never asked) and the resources it subscribed to. Another node
 * that takes the session over restores both.
 */
export interface SessionState {
  logLevel?: LoggingLevel;
  subscriptions: string[];
}

/** A question pushed to the client, waiting for its answer. */
interface Question {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** Options of {@link Session}. */
export interface SessionOptions {
  /** The session id the client sends (`Mcp-Session-Id`, `?sessionId=`); none on stdio. */
  id?: string;
  /** Called when the client changed its {@link SessionState}. */
  onStateChange?(): void;
  /** Who opened the session; only this caller may use it. Default {@link ANONYMOUS}. */
  principal?: Principal;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** One 2025 client session: see the module doc. */
export class Session {
  readonly id: string | undefined;
  /** The SDK server bound to this session; the direct lane bypasses it for calls. */
  readonly server: Server;
  /**
   * The caller of the latest request: always the same {@link principalKey}
   * as the one that opened the session ({@link ownerKey}), but its scopes
   * follow the newest token.
   */
  principal: Principal;
  /** The {@link principalKey} of the caller that opened the session. */
  readonly ownerKey: string;
  /** Last time the client sent anything, for idle expiry. */
  lastSeenMs = Date.now();
  /** Set while a taken-over session replays its state, which needs no saving. */
  restoring = false;
  readonly subscriptions = new Set<string>();
  #logLevel?: LoggingLevel;
  #onStateChange?: () => void;
  /** Direct-lane calls in flight, by the client's request id. */
  readonly #calls = new Map<RequestId, AbortController>();
  /** Pushed questions waiting for an answer, by our id; each leaves as it settles. */
  readonly #questions = new Map<string, Question>();
  #nextQuestionId = 0;

  constructor(gateway: Gateway, codec: ResumeCodec, options: SessionOptions = {}) {
    this.id = options.id;
    this.principal = options.principal ?? ANONYMOUS;
    this.ownerKey = principalKey(this.principal);
    this.#onStateChange = options.onStateChange;
    this.server = createFrontServer(gateway, codec, "legacy", this);
  }

  /** The lowest log level the client asked for; undefined when it never asked. */
  get logLevel(): LoggingLevel | undefined {
    return this.#logLevel;
  }

  /** Records the client's `logging/setLevel`; true when it changed. */
  setLogLevel(level: LoggingLevel): boolean {
    if (this.#logLevel === level) return false;
    this.#logLevel = level;
    this.stateChanged();
    return true;
  }

  /** Tells the owner that {@link state} changed (unless the session is being restored). */
  stateChanged(): void {
    if (!this.restoring) this.#onStateChange?.();
  }

  /** What a taken-over session must restore. */
  state(): SessionState {
    const subscriptions = [...this.subscriptions];
    return this.#logLevel === undefined
      ? { subscriptions }
      : { logLevel: this.#logLevel, subscriptions };
  }

  /** Who makes this session's requests, as the gateway needs to know. */
  origin(): CallOrigin {
    return {
      // A 2025 server may log without being asked: no level means everything.
      logLevel: this.#logLevel ?? "debug",
      client: this,
      affinityKey: this.id,
      principal: this.principal,
      clientCapabilities: this.server.getClientCapabilities() as
        | Record<string, unknown>
        | undefined,
    };
  }

  /** Direct-lane calls in flight. */
  get callCount(): number {
    return this.#calls.size;
  }

  /** Tracks a direct-lane call until it settles; `abort` cancels it. */
  trackCall(id: RequestId, abort: AbortController): () => void {
    // A client reusing the id of a call in flight breaks JSON-RPC; the newer call wins.
    this.#calls.set(id, abort);
    return () => {
      if (this.#calls.get(id) === abort) this.#calls.delete(id);
    };
  }

  /**
   * Aborts the direct calls that the `notifications/cancelled` messages in
   * `body` name; the SDK still sees the messages (it ignores ids it does not know).
   */
  cancelCalls(body: unknown): void {
    if (this.#calls.size === 0) return;
    for (const m of Array.isArray(body) ? body : [body]) {
      if (!isPlainObject(m) || m.method !== "notifications/cancelled") continue;
      const params = m.params;
      if (!isPlainObject(params)) continue;
      const id = params.requestId;
      if (typeof id !== "string" && typeof id !== "number") continue;
      const reason = typeof params.reason === "string" ? params.reason : "cancelled by the client";
      this.#calls.get(id)?.abort(new Error(reason));
    }
  }

  /** Questions pushed to the client that wait for an answer. */
  get questionCount(): number {
    return this.#questions.size;
  }

  /**
   * Sends `request` to the client through `push` under an id of ours and
   * waits for the answer the client POSTs ({@link answerQuestions}). An abort
   * withdraws it with `notifications/cancelled`; `push` returning false means
   * the client can no longer hear it.
   */
  ask(
    push: (message: Record<string, unknown>) => boolean,
    request: { method: string; params?: Record<string, unknown> },
    signal: AbortSignal | undefined,
  ): Promise<Record<string, unknown>> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#questions.size >= MAX_QUESTIONS_PER_SESSION) {
      return Promise.reject(
        new ProtocolError(
          INTERNAL_ERROR,
          `${request.method}: ${MAX_QUESTIONS_PER_SESSION} requests already wait for this client`,
        ),
      );
    }
    const id = `safla-pushed-${this.#nextQuestionId++}`;
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
    const onAbort = () => {
      const question = this.#questions.get(id);
      if (question === undefined) return;
      push({
        jsonrpc: "2.0",
        method: "notifications/cancelled",
        params: { requestId: id, reason: String(signal!.reason ?? "cancelled") },
      });
      question.reject(signal!.reason);
    };
    const settle = () => {
      this.#questions.delete(id);
      signal?.removeEventListener("abort", onAbort);
    };
    this.#questions.set(id, {
      resolve: (result) => {
        settle();
        resolve(result);
      },
      reject: (error) => {
        settle();
        reject(error);
      },
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    if (!push({ jsonrpc: "2.0", id, method: request.method, params: request.params ?? {} })) {
      this.#questions.get(id)?.reject(
        new ProtocolError(
          INTERNAL_ERROR,
          `${request.method}: the client closed this call's stream`,
        ),
      );
    }
    // Questions outlive the call whose stream carried them: with several calls
    // of one client in flight a question may belong to another, and its answer
    // comes by POST. They end when answered, withdrawn, or with the session.
    return promise;
  }

  /**
   * Hands the client's answers to pushed questions (JSON-RPC responses with
   * our ids) to their waiters. Returns what is left of `body` for the SDK, or
   * undefined when nothing is.
   */
  answerQuestions(body: unknown): unknown {
    if (this.#questions.size === 0) return body;
    const messages = Array.isArray(body) ? body : [body];
    const rest: unknown[] = [];
    for (const m of messages) {
      const id = isPlainObject(m) && !("method" in m) ? m.id : undefined;
      const question = typeof id === "string" ? this.#questions.get(id) : undefined;
      if (question === undefined) {
        rest.push(m);
        continue;
      }
      const message = m as { result?: unknown; error?: unknown };
      if (isPlainObject(message.error)) {
        const e = message.error as { code?: unknown; message?: unknown; data?: unknown };
        question.reject(
          new ProtocolError(
            typeof e.code === "number" ? e.code : INTERNAL_ERROR,
            typeof e.message === "string" ? e.message : "the client reported an error",
            e.data,
          ),
        );
      } else if (isPlainObject(message.result)) {
        question.resolve(message.result);
      } else {
        question.reject(
          new ProtocolError(INVALID_PARAMS, "the client's answer has no result object"),
        );
      }
    }
    if (rest.length === messages.length) return body;
    if (rest.length === 0) return undefined;
    return Array.isArray(body) ? rest : rest[0];
  }

  /** Ends what the session holds: its direct calls and its questions. */
  end(): void {
    for (const abort of this.#calls.values()) abort.abort(new Error("the session ended"));
    this.#calls.clear();
    for (const question of [...this.#questions.values()]) {
      question.reject(new Error("the session ended"));
    }
  }

  /** Ends the session and closes its server. */
  async close(): Promise<void> {
    this.end();
    await this.server.close().catch(() => {});
  }
}
