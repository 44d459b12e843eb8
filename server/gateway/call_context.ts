/**
 * What a front hands the gateway with every client request: who made it, how
 * to reach back to it (notifications, and on 2025 sessions requests),
 * its cancellation signal, progress token, `_meta`, log level and
 * capabilities, and the verified state of an input round it is resuming.
 *
 * @module
 */
import type { Principal } from "@safla/core/access";

/** What the gateway needs from the front for one client request. */
export interface CallContext {
  signal?: AbortSignal;
  /** The client's progress token, if it asked for progress. */
  progressToken?: string | number;
  /** The request's `_meta` minus protocol envelope keys, forwarded upstream. */
  meta?: Record<string, unknown>;
  /** Sends a notification related to this request to its client. */
  notify(notification: { method: string; params?: Record<string, unknown> }): Promise<void>;
  /**
   * Sends a request to this request's client (2025 sessions only); absent when
   * the front cannot push requests.
   */
  sendRequest?(
    request: { method: string; params?: Record<string, unknown> },
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>>;
  /**
   * The authenticated caller (`ANONYMOUS` on a node without authentication);
   * absent only for calls the gateway makes on its own behalf.
   */
  principal?: Principal;
  /** Affinity key for consistent hashing (a session id). */
  affinityKey?: string;
  /**
   * The client connection the request came from (a 2025 session or the stdio
   * client): requests of one client carry the same object, so a request a
   * backend pushes while several of that client's calls run has one owner.
   */
  client?: object;
  /** The lowest log level the client wants (`logging/setLevel` or the 2026 envelope). */
  logLevel?: string;
  /**
   * What the client can answer (sampling, elicitation, roots), so a 2026
   * backend only asks for input this client can give.
   */
  clientCapabilities?: Record<string, unknown>;
  /**
   * Set when the client retries a request that got an `input_required`
   * result: the verified state the gateway minted, and the client's answers.
   */
  resume?: { state: ResumeState; inputResponses?: Record<string, unknown> };
}

/** What the gateway keeps in a signed `requestState` across input rounds. */
export interface ResumeState {
  /** The replica that asked for input; the retry must go back to it. */
  replica: string;
  /** The backend's own `requestState`, echoed to it verbatim. */
  state?: string;
  /** A 2025 backend call held open while its pushed requests go to the client. */
  exchange?: string;
}

/** Seals {@link ResumeState} into a tamper-evident `requestState` string. */
export interface ResumeStateSealer {
  mint(payload: ResumeState): Promise<string>;
}
