/**
 * The data types of the Raft core: messages, log entries, hard state,
 * snapshots, configuration states and the output of {@link Ready}.
 *
 * Everything here is plain data, so a driver (the real transports or the
 * simulator) can persist, send and compare it without knowing the core.
 *
 * @module
 */

/** A node's identity in the cluster. Never the empty string. */
export type NodeId = string;

/** The three roles of the paper plus the PreVote candidate. */
export type RaftRole = "follower" | "preCandidate" | "candidate" | "leader";

/** What a log entry carries: application data or a membership change. */
export type EntryType = "normal" | "confChange";

/** One log entry. `index` and `term` are safe integers (asserted, never bigint). */
export interface Entry {
  /** Term of the leader that created the entry. */
  term: number;
  /** Position in the log, starting at 1. */
  index: number;
  /** Kind of payload. */
  type: EntryType;
  /** Opaque payload; for `confChange` entries, an encoded {@link ConfChange}. */
  data: Uint8Array;
}

/** State that must be on stable storage before any message depending on it is sent. */
export interface HardState {
  /** Latest term this node has seen. */
  term: number;
  /** Candidate voted for in `term`, or null. */
  vote: NodeId | null;
  /** Highest index known to be committed. */
  commit: number;
}

/** A membership configuration, possibly joint (when `votersOutgoing` is not empty). */
export interface ConfState {
  /** Voters of the incoming (or only) configuration. */
  voters: NodeId[];
  /** Voters of the outgoing configuration while in a joint configuration. */
  votersOutgoing: NodeId[];
  /** Non-voting members that receive the log. */
  learners: NodeId[];
  /** Voters of the outgoing configuration that become learners when the joint state is left. */
  learnersNext: NodeId[];
  /** Whether the joint configuration is left automatically once committed. */
  autoLeave: boolean;
}

/** Where a snapshot stands in the log, and the configuration at that point. */
export interface SnapshotMetadata {
  /** Index of the last entry the snapshot covers. */
  index: number;
  /** Term of that entry. */
  term: number;
  /** Membership at that index. */
  confState: ConfState;
}

/** An application snapshot plus its position in the log. */
export interface Snapshot {
  /** Opaque state-machine bytes. */
  data: Uint8Array;
  /** Position and membership. */
  metadata: SnapshotMetadata;
}

/** One atomic membership step. */
export interface ConfChangeSingle {
  /** What happens to `nodeId`. */
  type: "addNode" | "addLearner" | "removeNode";
  /** The member concerned. */
  nodeId: NodeId;
}

/**
 * A membership change (etcd's ConfChangeV2). One simple change may be applied
 * directly; several changes always go through a joint configuration.
 */
export interface ConfChange {
  /** `auto`: simple if possible, else joint with auto-leave; `implicit`: joint, auto-leave; `explicit`: joint, left by an empty ConfChange. */
  transition: "auto" | "implicit" | "explicit";
  /** The steps; empty means "leave the joint configuration". */
  changes: ConfChangeSingle[];
  /** Opaque application context. */
  context?: Uint8Array;
}

/** Every message kind. Local ones (`hup`, `beat`, `prop`, ...) never cross the network. */
export type MessageType =
  | "hup"
  | "beat"
  | "prop"
  | "app"
  | "appResp"
  | "vote"
  | "voteResp"
  | "preVote"
  | "preVoteResp"
  | "snap"
  | "heartbeat"
  | "heartbeatResp"
  | "unreachable"
  | "snapStatus"
  | "checkQuorum"
  | "transferLeader"
  | "timeoutNow"
  | "readIndex"
  | "readIndexResp"
  /** A piece of a snapshot streamed by the cluster node (see `core/node/snapshot_transfer.ts`); Raft never sees it. */
  | "snapChunk"
  /** A follower's acknowledgement of snapshot chunks; Raft never sees it. */
  | "snapAck";

/** A Raft message. Fields not used by a given type are zero / empty. */
export interface Message {
  /** Kind. */
  type: MessageType;
  /** Sender. */
  from: NodeId;
  /** Receiver. */
  to: NodeId;
  /** Sender's term (0 for local messages). */
  term: number;
  /**
   * Term of the entry at `index` (append), of the candidate's last entry
   * (vote), or, on a forwarded proposal, of the leader it is forwarded to
   * (no other leadership appends it).
   */
  logTerm: number;
  /** Index preceding `entries` (append), the candidate's last index (vote), or the acknowledged index (responses). */
  index: number;
  /** Entries carried by `app` and `prop`. */
  entries: Entry[];
  /** Leader's commit index. */
  commit: number;
  /** Snapshot carried by `snap`. */
  snapshot?: Snapshot;
  /** Rejection flag of responses. */
  reject: boolean;
  /** On a rejected append, the follower's hint for fast backtracking. */
  rejectHint: number;
  /** Opaque context (ReadIndex request id, campaign-transfer marker). */
  context?: Uint8Array;
}

/** Volatile state that a driver may show (not persisted). */
export interface SoftState {
  /** Known leader, or null. */
  lead: NodeId | null;
  /** This node's role. */
  role: RaftRole;
}

/** A linearizable read that may now be served once `applied >= index`. */
export interface ReadState {
  /** Commit index at the time the read was confirmed. */
  index: number;
  /** The request context passed to `readIndex`. */
  requestCtx: Uint8Array;
}

/**
 * What the driver must do, in order: persist `hardState`, `entries` and `snapshot`
 * (fsync when `mustSync`), then send `messages`, then apply `snapshot` and
 * `committedEntries` to the state machine, then call `advance()`.
 */
export interface Ready {
  /** Changed soft state, if any. */
  softState?: SoftState;
  /** Changed hard state, if any. */
  hardState?: HardState;
  /** Reads that became serviceable. */
  readStates: ReadState[];
  /** Entries to append to stable storage. */
  entries: Entry[];
  /** Snapshot to persist and install. */
  snapshot?: Snapshot;
  /** Entries that are committed and must be applied. */
  committedEntries: Entry[];
  /** Messages to send once the above is durable. */
  messages: Message[];
  /** Whether the writes must be fsynced before sending: new entries, a snapshot, or a new term or vote. */
  mustSync: boolean;
}
