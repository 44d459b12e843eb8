/**
 * Errors a Raft node returns to its caller.
 *
 * @module
 */
import type { MessageType } from "./types.ts";

/** Why a proposal could not be accepted. */
export type ProposalDropReason =
  | "noLeader"
  | "forwardingDisabled"
  | "leaderTransferInProgress"
  | "notInConfiguration"
  | "uncommittedSizeLimit"
  | "candidate"
  | "readQueueFull";

/**
 * A proposal (or read request) was dropped; nothing was appended. The caller
 * may retry later, typically after a leader is known.
 */
export class ProposalDroppedError extends Error {
  /** Why it was dropped. */
  readonly reason: ProposalDropReason;
  /** Creates the error. */
  constructor(reason: ProposalDropReason, detail: string) {
    super(`raft proposal dropped (${reason}): ${detail}`);
    this.name = "ProposalDroppedError";
    this.reason = reason;
  }
}

/** A message type that only the node itself may generate was fed in from the network. */
export class LocalMessageError extends Error {
  /** The rejected message type. */
  readonly messageType: MessageType;
  /** Creates the error. */
  constructor(messageType: MessageType) {
    super(
      `raft: message type "${messageType}" is local to a node and cannot be stepped from the network`,
    );
    this.name = "LocalMessageError";
    this.messageType = messageType;
  }
}

/** `bootstrap` was called on a node whose storage is not empty, or with no peers. */
export class BootstrapError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "BootstrapError";
  }
}
