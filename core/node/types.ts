/**
 * What enters and leaves a cluster node: events in, effects out, as plain
 * data. A driver (the real transports or the simulator) executes effects and
 * feeds back events; the node never waits, reads a clock or touches I/O.
 *
 * @module
 */
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  Snapshot,
} from "../raft/types.ts";

/** A request a client hands to this node. */
export type ClientRequest<Q> =
  | { kind: "command"; command: Uint8Array }
  | { kind: "read"; query: Q; consistency: "linearizable" | "serializable" }
  /** A membership change; answered once applied, with the resulting configuration. */
  | { kind: "confChange"; change: ConfChange };

/** Everything that can happen to a node. */
export type NodeEvent<Q> =
  /** One logical clock tick (the driver decides how long a tick is). */
  | { type: "tick" }
  /** A Raft message from a peer arrived. */
  | { type: "message"; message: Message }
  /** A client request; `requestId` is the driver's and comes back in the reply. */
  | { type: "request"; requestId: number; request: ClientRequest<Q> }
  /**
   * The driver gave up on request `requestId` (its timeout): the node forgets
   * it and will not answer. A command may still take effect.
   */
  | { type: "cancel"; requestId: number }
  /** A `persist` effect is done (durable, when it asked for sync). */
  | { type: "persisted"; persistId: number }
  /** The driver could not reach `peer` (lets the leader stop pipelining to it). */
  | { type: "unreachable"; peer: NodeId }
  /** Ask this node to start an election now. */
  | { type: "campaign" }
  /** Ask the leader to hand leadership to `to`. */
  | { type: "transferLeader"; to: NodeId };

/** Why a request failed. `outcomeUnknown` means a command may still take effect. */
export type NodeError =
  | { code: "NotLeader"; leaderHint: NodeId | null; outcomeUnknown: false }
  | { code: "ProposalDropped"; reason: string; outcomeUnknown: false }
  | { code: "Overloaded"; pendingLimit: number; outcomeUnknown: false }
  | { code: "LeadershipLost"; term: number; outcomeUnknown: boolean };

/** A reply to a client request. */
export type NodeReply<R> =
  | { ok: true; value: R; index: number }
  | { ok: true; confState: ConfState; index: number }
  | { ok: false; error: NodeError };

/** What the driver must do. Effects must be executed in the order given. */
export type NodeEffect<R> =
  /**
   * Write to stable storage, in this order: snapshot (if any), entries
   * (replacing any conflicting suffix), hard state. Fsync when `mustSync`
   * (always set when a snapshot is carried).
   * Then report `{ type: "persisted", persistId }`. The node emits nothing
   * that depends on these writes until then.
   */
  | {
    type: "persist";
    persistId: number;
    hardState?: HardState;
    entries: Entry[];
    snapshot?: Snapshot;
    mustSync: boolean;
  }
  /** Send each message to `message.to`; loss is tolerated. */
  | { type: "send"; messages: Message[] }
  /** Answer request `requestId`. */
  | { type: "reply"; requestId: number; reply: NodeReply<R> }
  /** Committed entries were applied to the state machine, in log order (for observers). */
  | { type: "applied"; entries: Entry[] }
  /** A snapshot was installed into the state machine (for observers). */
  | { type: "snapshotInstalled"; index: number; term: number }
  /**
   * The node took a snapshot of its state machine and compacted its in-memory
   * log through `snapshot.metadata.index`; the driver may persist it and
   * compact its log likewise (no event is expected back).
   */
  | { type: "snapshotTaken"; snapshot: Snapshot }
  /** Leadership or role changed (for observers and request routing). */
  | { type: "roleChanged"; role: string; leader: NodeId | null; term: number };

/** A state machine's serialization, captured at one moment and produced in bounded steps. */
export interface SnapshotSteps {
  /** Produces up to `maxItems` more items; returns all the bytes once done, undefined before. */
  step(maxItems: number): Uint8Array | undefined;
}

/** The replicated state machine the node applies committed commands to. */
export interface StateMachine<Q, R> {
  /** Applies a committed command at log `index`; must be deterministic. */
  apply(command: Uint8Array, index: number): R;
  /** Answers a read from the current state. */
  read(query: Q): R;
  /** Serializes the whole state. */
  snapshot(): Uint8Array;
  /**
   * Optional: the bytes `snapshot()` gives now, produced a bounded step at a
   * time, so that the node can spread a large state's encoding over its ticks
   * instead of stalling on it. Applies made meanwhile must not reach it.
   */
  snapshotSteps?(): SnapshotSteps;
  /** Replaces the whole state with a serialized one. */
  restore(data: Uint8Array): void;
}
