/**
 * {@link RawNode}: the driver-facing API of the Raft core, in the shape of
 * etcd's RawNode. A driver (the real transports or the simulator) calls
 * `tick`, `step`, `propose`, ... and then loops on `hasReady` / `ready` /
 * `advance`.
 *
 * @module
 */
import type { Config } from "./config.ts";
import { encodeConfChange } from "./confchange/conf_change.ts";
import { assertSafeIndex, invariant, payloadSizeBytes } from "./entries.ts";
import { BootstrapError, LocalMessageError, ProposalDroppedError } from "./errors.ts";
import { LOCAL_MESSAGE_TYPES, newMessage, Raft, RESPONSE_MESSAGE_TYPES } from "./raft.ts";
import { coalesceMessages } from "./coalesce.ts";
import type { ProgressState } from "./tracker/progress.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  Ready,
  SoftState,
} from "./types.ts";

/** What the leader knows about one member (see {@link RawNodeStatus.progress}). */
export interface ProgressStatus {
  /** Highest index known to be replicated on the member. */
  match: number;
  /** Next index to send. */
  next: number;
  /** Replication state. */
  state: ProgressState;
  /** Whether the member is a learner. */
  isLearner: boolean;
  /** Whether the member was heard from since the last quorum check. */
  recentActive: boolean;
  /** Whether sending appends to it is paused. */
  paused: boolean;
  /** Append messages in flight to it. */
  inflightMsgs: number;
}

/** A snapshot of a node's Raft state, for monitoring and tests. */
export interface RawNodeStatus {
  /** This node. */
  id: NodeId;
  /** Term, vote and commit index. */
  hardState: HardState;
  /** Leader and role. */
  softState: SoftState;
  /** Index applied by the application. */
  applied: number;
  /** Per-member progress; only on the leader, else undefined. */
  progress: Map<NodeId, ProgressStatus> | undefined;
  /** Target of an ongoing leadership transfer, or null. */
  leadTransferee: NodeId | null;
  /** The active membership. */
  config: ConfState;
}

interface PendingReady {
  lastEntry: { index: number; term: number } | undefined;
  snapshotIndex: number | undefined;
  lastCommittedIndex: number | undefined;
  committedSizeBytes: number;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.role === b.role;
}

/**
 * A Raft node driven step by step. Thread of use:
 * 1. feed input: `tick()`, `step(m)`, `propose(data)`, `readIndex(ctx)`, ...
 * 2. while `hasReady()`: `rd = ready()`; persist `rd.hardState`, `rd.entries`,
 *    `rd.snapshot`; send `rd.messages`; apply `rd.snapshot` and
 *    `rd.committedEntries` (calling `applyConfChange` for conf-change
 *    entries and persisting the ConfState it returns, which a restart with
 *    `Config.applied` reads back through `Storage.initialState`); serve
 *    `rd.readStates`; then `advance()`.
 *
 * Every message in a Ready depends only on state in that Ready or earlier ones,
 * so persisting before sending is enough for safety (a vote is never granted
 * on the wire before it is on disk).
 *
 * @example
 * ```ts
 * import { decodeConfChange, MemoryStorage, RawNode } from "@safla/core/raft";
 * import { SeededRng } from "@safla/core";
 * const storage = new MemoryStorage();
 * const node = new RawNode({ id: "a", electionTicks: 10, heartbeatTicks: 1, storage, rng: new SeededRng(7) });
 * node.bootstrap(["a"]);
 * node.campaign();
 * while (node.hasReady()) {
 *   const rd = node.ready();
 *   if (rd.hardState) storage.setHardState(rd.hardState);
 *   storage.append(rd.entries);
 *   for (const e of rd.committedEntries) {
 *     if (e.type === "confChange") {
 *       storage.setConfState(node.applyConfChange(decodeConfChange(e.data)));
 *     }
 *   }
 *   node.advance();
 * }
 * console.assert(node.status().softState.role === "leader");
 * ```
 */
export class RawNode {
  /** The state machine (exposed for tests and tools; drive it through this class). */
  readonly raft: Raft;
  #prevSoftState: SoftState;
  #prevHardState: HardState;
  #pending: PendingReady | undefined = undefined;

  /** Creates a node; throws `ConfigError` if `config` is invalid. */
  constructor(config: Config) {
    this.raft = new Raft(config);
    this.#prevSoftState = this.raft.softState();
    this.#prevHardState = this.raft.hardState();
  }

  /**
   * Whether the leader counts its own appends only once persisted
   * ({@link Config.asyncLeaderAppend}), so a driver may send a Ready's appends
   * before persisting its entries.
   */
  get asyncLeaderAppend(): boolean {
    return this.raft.config.asyncLeaderAppend;
  }

  /**
   * Initializes a brand-new cluster member whose storage is empty: the log
   * starts with one committed `addNode` conf change per peer (in term 1), so
   * every member bootstrapped with the same `peers` agrees on entries 1..n.
   * Throws {@link BootstrapError} if the storage is not empty or `peers` is.
   */
  bootstrap(peers: readonly NodeId[]): void {
    if (peers.length === 0) throw new BootstrapError("bootstrap needs at least one peer");
    if (new Set(peers).size !== peers.length) {
      throw new BootstrapError(`bootstrap peers contain duplicates: ${peers.join(", ")}`);
    }
    const storage = this.raft.config.storage;
    if (
      storage.lastIndex() !== 0 || storage.initialState().hardState.term !== 0 ||
      this.raft.raftLog.lastIndex() !== 0
    ) {
      throw new BootstrapError("bootstrap requires empty storage; restart from storage instead");
    }
    this.raft.becomeFollower(1, null);
    const entries: Entry[] = peers.map((nodeId, i) => ({
      term: 1,
      index: i + 1,
      type: "confChange",
      data: encodeConfChange({ transition: "auto", changes: [{ type: "addNode", nodeId }] }),
    }));
    this.raft.raftLog.append(entries);
    // The entries are committed by fiat: every member starts with them. They
    // still reach the application through Ready.committedEntries, where
    // applying them again is a no-op.
    this.raft.raftLog.committed = entries.length;
    for (const nodeId of peers) {
      this.raft.applyConfChange({ transition: "auto", changes: [{ type: "addNode", nodeId }] });
    }
  }

  /** Advances the logical clock by one tick (elections, heartbeats, CheckQuorum). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (PreVote first if configured). */
  campaign(): void {
    this.raft.step(newMessage({ type: "hup", from: this.raft.id }));
  }

  /**
   * Proposes application data. Throws {@link ProposalDroppedError} if it cannot
   * be accepted now (no leader, leadership transfer, size limit, ...); an
   * accepted proposal may still be lost and must be confirmed by seeing it
   * applied.
   */
  propose(data: Uint8Array): void {
    this.raft.step(newMessage({
      type: "prop",
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: "normal", data }],
    }));
  }

  /**
   * Proposes a membership change. Only one may be pending: while one is
   * unapplied, the leader turns further ones into empty entries.
   */
  proposeConfChange(cc: ConfChange): void {
    this.raft.step(newMessage({
      type: "prop",
      from: this.raft.id,
      entries: [{ term: 0, index: 0, type: "confChange", data: encodeConfChange(cc) }],
    }));
  }

  /**
   * Applies a committed membership change (call it when applying a
   * `confChange` entry) and returns the resulting configuration. Throws
   * `ConfChangeError` if the change is invalid for the current configuration.
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * Feeds a message received from a peer. Throws {@link LocalMessageError} for
   * message types that never cross the network. Responses from nodes that are
   * not members are ignored, and so are forwarded proposals or reads that
   * this node cannot handle (their sender learns nothing either way).
   */
  step(m: Message): void {
    if (LOCAL_MESSAGE_TYPES.has(m.type)) throw new LocalMessageError(m.type);
    if (RESPONSE_MESSAGE_TYPES.has(m.type) && !this.raft.trk.progress.has(m.from)) return;
    try {
      this.raft.step(m);
    } catch (e) {
      if (e instanceof ProposalDroppedError && m.from !== this.raft.id) return;
      throw e;
    }
  }

  /**
   * Requests a linearizable read tagged by `ctx` (unique per request). When
   * confirmed, a ReadState with the same ctx appears in a Ready; serve the read
   * once the state machine has applied its index. Throws
   * {@link ProposalDroppedError} if no leader is known.
   */
  readIndex(ctx: Uint8Array): void {
    this.raft.step(newMessage({ type: "readIndex", from: this.raft.id, context: ctx }));
  }

  /** Asks the leader (directly or via this follower) to hand leadership to `transferee`. */
  transferLeader(transferee: NodeId): void {
    this.raft.step(newMessage({ type: "transferLeader", from: transferee, to: this.raft.id }));
  }

  /** Tells the leader that the last message to `id` could not be delivered. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: "unreachable", from: id }));
  }

  /**
   * Tells the leader whether the snapshot sent to `id` was installed
   * (`ok`) or failed; replication to it resumes with probing either way.
   */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(newMessage({ type: "snapStatus", from: id, reject: !ok }));
  }

  /** Whether {@link RawNode.ready} would return anything to do. */
  hasReady(): boolean {
    if (this.#pending !== undefined) return false;
    const r = this.raft;
    // Compared field by field: building the soft and hard state objects on
    // every call was a measurable share of the driver loop.
    const soft = this.#prevSoftState;
    if (r.lead !== soft.lead || r.role !== soft.role) return true;
    const hard = this.#prevHardState;
    if (r.term !== hard.term || r.vote !== hard.vote || r.raftLog.committed !== hard.commit) {
      return true;
    }
    return r.raftLog.hasNextUnstableSnapshot() || r.msgs.length > 0 ||
      r.raftLog.hasNextUnstableEnts() || r.raftLog.hasNextCommittedEnts() ||
      r.readStates.length > 0;
  }

  /**
   * Returns the pending work and marks it as handed out. Must be followed by
   * {@link RawNode.advance} before the next `ready()`.
   */
  ready(): Ready {
    invariant(this.#pending === undefined, "ready() called again before advance()");
    const r = this.raft;
    const softState = r.softState();
    const hardState = r.hardState();
    const entries = r.raftLog.nextUnstableEnts();
    const snapshot = r.raftLog.unstable.nextSnapshot();
    const committedEntries = r.raftLog.nextCommittedEnts();
    const rd: Ready = {
      readStates: r.readStates,
      entries,
      committedEntries,
      messages: coalesceMessages(r.msgs, r.config.maxSizePerMsgBytes),
      // A lost entry, term, vote or snapshot could contradict a message already
      // sent; a commit index alone can be recovered from the leader.
      mustSync: entries.length > 0 || snapshot !== undefined ||
        hardState.term !== this.#prevHardState.term || hardState.vote !== this.#prevHardState.vote,
    };
    if (!sameSoftState(softState, this.#prevSoftState)) {
      rd.softState = softState;
      this.#prevSoftState = softState;
    }
    if (!sameHardState(hardState, this.#prevHardState)) {
      rd.hardState = hardState;
      this.#prevHardState = hardState;
    }
    if (snapshot !== undefined) rd.snapshot = snapshot;
    r.msgs = [];
    r.readStates = [];
    r.raftLog.acceptUnstable();
    const lastCommitted = committedEntries.at(-1);
    if (lastCommitted !== undefined) r.raftLog.acceptApplying(lastCommitted.index);
    const lastEntry = entries.at(-1);
    this.#pending = {
      lastEntry: lastEntry && { index: lastEntry.index, term: lastEntry.term },
      snapshotIndex: snapshot?.metadata.index,
      lastCommittedIndex: lastCommitted?.index,
      committedSizeBytes: payloadSizeBytes(committedEntries),
    };
    return rd;
  }

  /**
   * Acknowledges that the last Ready was fully handled: its state persisted,
   * its messages sent and its entries applied.
   */
  advance(): void {
    const p = this.#pending;
    invariant(p !== undefined, "advance() called without a pending ready()");
    this.#pending = undefined;
    const log = this.raft.raftLog;
    if (p.lastEntry !== undefined) {
      log.stableTo(p.lastEntry.index, p.lastEntry.term);
      this.raft.ownAppendPersisted(p.lastEntry.index, p.lastEntry.term);
    }
    if (p.snapshotIndex !== undefined) {
      log.stableSnapTo(p.snapshotIndex);
      this.raft.appliedTo(p.snapshotIndex, 0);
    }
    if (p.lastCommittedIndex !== undefined) {
      assertSafeIndex("applied index", p.lastCommittedIndex);
      this.raft.appliedTo(p.lastCommittedIndex, p.committedSizeBytes);
    }
  }

  /** The node's current state. */
  status(): RawNodeStatus {
    const r = this.raft;
    let progress: Map<NodeId, ProgressStatus> | undefined;
    if (r.role === "leader") {
      progress = new Map();
      r.trk.visit((id, pr) => {
        progress?.set(id, {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          isLearner: pr.isLearner,
          recentActive: pr.recentActive,
          paused: pr.isPaused(),
          inflightMsgs: pr.inflights.count,
        });
      });
    }
    return {
      id: r.id,
      hardState: r.hardState(),
      softState: r.softState(),
      applied: r.raftLog.applied,
      progress,
      leadTransferee: r.leadTransferee,
      config: r.trk.confState(),
    };
  }
}
