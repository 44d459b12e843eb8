/**
 * The part of the Raft core's RawNode that a cluster node drives. Kept as an
 * interface so the node depends on the shape, not on construction details.
 *
 * @module
 */
import type { ConfChange, ConfState, Message, NodeId, Ready } from "../raft/types.ts";

/** A Raft state machine in the shape of etcd's RawNode. */
export interface RaftCore {
  /** Advances the logical clock by one tick. */
  tick(): void;
  /** Starts an election. */
  campaign(): void;
  /** Proposes application data; throws when the proposal is dropped. */
  propose(data: Uint8Array): void;
  /** Proposes a membership change; throws when dropped. */
  proposeConfChange(cc: ConfChange): void;
  /** Applies a committed membership change; returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState;
  /** Feeds a message from a peer. */
  step(m: Message): void;
  /** Whether `ready()` has anything. */
  hasReady(): boolean;
  /** Takes the pending work. */
  ready(): Ready;
  /** Acknowledges the last `ready()` as done. */
  advance(): void;
  /** Requests a linearizable read, tagged by `ctx`. */
  readIndex(ctx: Uint8Array): void;
  /** Asks the leader to transfer leadership. */
  transferLeader(to: NodeId): void;
  /** Reports that a peer could not be reached. */
  reportUnreachable(id: NodeId): void;
  /** Reports whether a snapshot sent to a peer arrived. */
  reportSnapshot(id: NodeId, ok: boolean): void;
  /**
   * Whether the leader counts its own appends only once persisted; then the
   * node sends a Ready's appends before its persist completes. Absent: false.
   */
  readonly asyncLeaderAppend?: boolean;
}
