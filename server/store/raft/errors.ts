/**
 * What can go wrong with a request to the embedded Raft store, typed so the
 * admin API and the gateway can tell the user what to do.
 *
 * @module
 */

/** No leader could take the request: this node is cut off from a majority, or an election is running. The request did not apply. */
export class NoQuorumError extends Error {
  /** Names the node and how long it tried. */
  constructor(readonly nodeId: string, readonly waitedMs: number, detail: string) {
    super(
      `node ${nodeId} cannot reach a leader (waited ${waitedMs} ms; ${detail}); it may be in a ` +
        `minority partition. The request was not applied: retry it, or send it to another node.`,
    );
    this.name = "NoQuorumError";
  }
}

/** This node has too many requests outstanding. */
export class OverloadedError extends Error {
  /** Names the bound. */
  constructor(readonly pendingLimit: number) {
    super(`too many outstanding requests (limit ${pendingLimit}); retry later`);
    this.name = "OverloadedError";
  }
}

/** The state machine applied the command but refused it (e.g. an unknown lease). */
export class StoreCommandError extends Error {
  /** Carries the state machine's code and sentence. */
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "StoreCommandError";
  }
}

/**
 * Whether a fetch failed before a connection was made (so the request was
 * certainly not delivered). Deno reports this as a TypeError whose cause
 * names the connect step.
 */
export function isConnectFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    if (/client error \(Connect\)|Connection refused|ECONNREFUSED/i.test(e.message)) return true;
    e = e.cause;
  }
  return false;
}
