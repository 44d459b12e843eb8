/**
 * The Raft state machine (Ongaro & Ousterhout, "In Search of an Understandable
 * Consensus Algorithm", extended with the thesis' PreVote, CheckQuorum,
 * leadership transfer, ReadIndex and joint-consensus membership changes).
 *
 * Everything enters through {@link Raft.step} (messages, including local
 * events) and {@link Raft.tick}; everything leaves as data: outgoing messages in
 * {@link Raft.msgs}, log changes in {@link Raft.raftLog}, reads in
 * {@link Raft.readStates}. {@link RawNode} packages those as a `Ready`.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import { type Config, type ResolvedConfig, validateConfig } from "./config.ts";
import { Changer } from "./confchange/changer.ts";
import {
  decodeConfChange,
  encodeConfChange,
  enterJoint,
  leaveJoint,
} from "./confchange/conf_change.ts";
import { restore as restoreConfig } from "./confchange/restore.ts";
import { assertSafeIndex, invariant, payloadSizeBytes } from "./entries.ts";
import { ProposalDroppedError } from "./errors.ts";
import { RaftLog } from "./log.ts";
import { ReadOnly } from "./read_only.ts";
import { CompactedError, SnapshotTemporarilyUnavailableError } from "./storage.ts";
import { Inflights } from "./tracker/inflights.ts";
import { Progress } from "./tracker/progress.ts";
import { type ConfigAndProgress, ProgressTracker } from "./tracker/tracker.ts";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType,
  NodeId,
  RaftRole,
  ReadState,
  Snapshot,
  SoftState,
} from "./types.ts";

/** Marks a vote request sent on behalf of a leadership transfer: it bypasses the leader lease. */
export const CAMPAIGN_TRANSFER_CONTEXT: Uint8Array = new TextEncoder().encode("campaignTransfer");

/** How an election is started. */
export type CampaignType = "preElection" | "election" | "transfer";

/** The message types that never cross the network. */
export const LOCAL_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  "hup",
  "beat",
  "unreachable",
  "snapStatus",
  "checkQuorum",
]);

/** The message types that answer a request. */
export const RESPONSE_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set<MessageType>([
  "appResp",
  "voteResp",
  "preVoteResp",
  "heartbeatResp",
  "unreachable",
  "snapStatus",
  "readIndexResp",
]);

/** The fields of a message that the sender must set; the rest default to zero/empty. */
export type MessageInit = Partial<Message> & Pick<Message, "type">;

/**
 * A complete message from `init`, defaulting every field not given to zero,
 * empty or false.
 *
 * @example
 * ```ts
 * import { newMessage } from "@safla/core/raft";
 * const m = newMessage({ type: "heartbeat", from: "a", to: "b", term: 3 });
 * console.assert(m.entries.length === 0 && m.reject === false);
 * ```
 */
export function newMessage(init: MessageInit): Message {
  // Field by field rather than by spreading `init` over the defaults: every
  // append and response is built here, and the spread dominated the
  // replication path. Same fields in the same order; the optional ones are
  // present exactly when `init` has them.
  const m: Message = {
    from: init.from ?? "",
    to: init.to ?? "",
    term: init.term ?? 0,
    logTerm: init.logTerm ?? 0,
    index: init.index ?? 0,
    entries: init.entries ?? [],
    commit: init.commit ?? 0,
    reject: init.reject ?? false,
    rejectHint: init.rejectHint ?? 0,
    type: init.type,
  };
  if ("snapshot" in init) m.snapshot = init.snapshot;
  if ("context" in init) m.context = init.context;
  return m;
}

const LEAVE_JOINT_DATA = encodeConfChange({ transition: "auto", changes: [] });

function voteRespType(t: MessageType): MessageType {
  return t === "preVote" ? "preVoteResp" : "voteResp";
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * One Raft peer's consensus state. Drive it through {@link RawNode}; this class
 * is exported for tests and tools that need to look inside.
 *
 * @example
 * ```ts
 * import { MemoryStorage, Raft } from "@safla/core/raft";
 * import { SeededRng } from "@safla/core";
 * const storage = new MemoryStorage();
 * const r = new Raft({ id: "a", electionTicks: 10, heartbeatTicks: 1, storage, rng: new SeededRng(1) });
 * console.assert(r.role === "follower" && r.term === 0);
 * ```
 */
export class Raft {
  /** This node's id. */
  readonly id: NodeId;
  /** The validated configuration. */
  readonly config: ResolvedConfig;
  /** Current term (persisted). */
  term = 0;
  /** Candidate voted for in `term`, or null (persisted). */
  vote: NodeId | null = null;
  /** The log. */
  readonly raftLog: RaftLog;
  /** Membership, votes and (on the leader) follower progress. */
  readonly trk: ProgressTracker;
  /** Current role. */
  role: RaftRole = "follower";
  /** Whether this node is a learner in the current configuration. */
  isLearner = false;
  /** Known leader of `term`, or null. */
  lead: NodeId | null = null;
  /** Target of an ongoing leadership transfer, or null. */
  leadTransferee: NodeId | null = null;
  /**
   * Index of the latest conf change the leader appended; no other may be
   * proposed until the log is applied past it (one pending change at a time).
   */
  pendingConfIndex = 0;
  /** Payload bytes of uncommitted entries in the leader's log. */
  uncommittedSizeBytes = 0;
  /** Messages to send once the state they depend on is persisted. */
  msgs: Message[] = [];
  /** Confirmed linearizable reads, to be handed to the application. */
  readStates: ReadState[] = [];
  /** Ticks since the last election timeout reset (followers: since hearing from the leader). */
  electionElapsedTicks = 0;
  /** Ticks since the last heartbeat (leader only). */
  heartbeatElapsedTicks = 0;
  /** Ticks since the leader last checked that a quorum is active (leader only). */
  quorumCheckElapsedTicks = 0;
  /** Current election timeout, drawn from [electionTicks, 2 * electionTicks). */
  randomizedElectionTimeoutTicks = 0;
  #readOnly: ReadOnly;
  #pendingReadIndexMessages: Message[] = [];
  readonly #rng: Rng;

  /** Creates a node from `config`, restoring term, vote, commit and membership from storage. */
  constructor(config: Config) {
    this.config = validateConfig(config);
    this.id = this.config.id;
    this.#rng = this.config.rng;
    this.raftLog = new RaftLog(this.config.storage, this.config.maxCommittedSizePerReadyBytes);
    this.trk = new ProgressTracker(this.config.maxInflightMsgs, this.config.maxInflightBytes);
    this.#readOnly = new ReadOnly(this.config.readOnlyOption);
    const { hardState, confState } = this.config.storage.initialState();
    const restored = restoreConfig(
      new Changer(this.trk, this.raftLog.lastIndex()),
      confState,
    );
    this.#switchToConfig(restored);
    if (hardState.term !== 0 || hardState.vote !== null || hardState.commit !== 0) {
      this.#loadState(hardState);
    }
    if (this.config.applied > 0) {
      this.raftLog.appliedTo(Math.min(this.config.applied, this.raftLog.committed));
    }
    this.becomeFollower(this.term, null);
  }

  /** The volatile state shown to the driver. */
  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  /** The state that must be persisted before sending messages. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  // ---------------------------------------------------------------- sending

  #send(init: MessageInit): void {
    const m = newMessage(init);
    if (init.from === undefined) m.from = this.id;
    if (
      m.type === "vote" || m.type === "voteResp" || m.type === "preVote" ||
      m.type === "preVoteResp"
    ) {
      // Vote messages carry the term they are about (the next term for PreVote), not ours.
      invariant(m.term !== 0, () => `term must be set when sending ${m.type}`);
    } else {
      invariant(m.term === 0, () => `term must not be set when sending ${m.type}`);
      // Forwarded proposals and reads travel as local messages of the leader.
      if (m.type !== "prop" && m.type !== "readIndex") m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends an append (or a snapshot) to `to` if flow control allows. */
  sendAppend(to: NodeId): void {
    this.#maybeSendAppend(to, true);
  }

  // Returns whether a message was sent. With sendIfEmpty false, nothing is sent
  // when there are no entries to carry (used to pipeline further appends).
  #maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.termOrUndefined(prevIndex);
    if (prevTerm === undefined) return this.#maybeSendSnapshot(to, pr);
    let entries: Entry[] = [];
    // A full window in replicate state still allows an empty append, so that a
    // follower whose acknowledgements were all lost is probed again.
    if (pr.state !== "replicate" || !pr.inflights.full()) {
      try {
        entries = this.raftLog.entries(pr.next, this.config.maxSizePerMsgBytes);
      } catch (e) {
        // Compacted between the term lookup and here: only a snapshot can help.
        if (e instanceof CompactedError) return this.#maybeSendSnapshot(to, pr);
        throw e;
      }
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.#send({
      type: "app",
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.raftLog.committed,
    });
    pr.updateOnEntriesSend(entries.length, payloadSizeBytes(entries), pr.next);
    return true;
  }

  #maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // A snapshot is expensive: only send it to a follower known to be alive.
    if (!pr.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.raftLog.snapshot();
    } catch (e) {
      if (e instanceof SnapshotTemporarilyUnavailableError) return false;
      throw e;
    }
    invariant(snapshot.metadata.index > 0, "need a non-empty snapshot to catch up a follower");
    pr.becomeSnapshot(snapshot.metadata.index);
    this.#send({ type: "snap", to, snapshot });
    return true;
  }

  #sendHeartbeat(to: NodeId, context: Uint8Array | undefined): void {
    const pr = this.trk.progress.get(to);
    // Never tell a follower to commit past what it is known to hold.
    const commit = Math.min(pr?.match ?? 0, this.raftLog.committed);
    this.#send({ type: "heartbeat", to, commit, context });
  }

  /** Sends appends to every follower and learner. */
  bcastAppend(): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  #bcastHeartbeat(): void {
    this.#bcastHeartbeatWithCtx(this.#readOnly.lastPendingRequestCtx());
  }

  #bcastHeartbeatWithCtx(context: Uint8Array | undefined): void {
    this.trk.visit((id) => {
      if (id !== this.id) this.#sendHeartbeat(id, context);
    });
  }

  // ---------------------------------------------------------------- commit

  /** Commits whatever a quorum has acknowledged, if allowed; returns whether commit advanced. */
  maybeCommit(): boolean {
    const acked = this.trk.committed();
    if (this.config.testingBugs.commitPreviousTermByCounting) {
      // Deliberately unsafe (mutation-testing hook): ignores the term of the entry.
      const index = Math.min(acked, this.raftLog.lastIndex());
      if (index <= this.raftLog.committed) return false;
      this.raftLog.commitTo(index);
      return true;
    }
    return this.raftLog.maybeCommit(acked, this.term);
  }

  // ---------------------------------------------------------------- roles

  #reset(term: number): void {
    assertSafeIndex("term", term);
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsedTicks = 0;
    this.heartbeatElapsedTicks = 0;
    this.quorumCheckElapsedTicks = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.trk.resetVotes();
    const lastIndex = this.raftLog.lastIndex();
    // Under asyncLeaderAppend only the durable part of the own log counts.
    const ownMatch = this.config.asyncLeaderAppend
      ? Math.min(lastIndex, this.raftLog.unstable.offset - 1)
      : lastIndex;
    for (const [id, pr] of this.trk.progress) {
      this.trk.progress.set(
        id,
        new Progress({
          match: id === this.id ? ownMatch : 0,
          next: lastIndex + 1,
          inflights: new Inflights(this.config.maxInflightMsgs, this.config.maxInflightBytes),
          isLearner: pr.isLearner,
        }),
      );
    }
    this.pendingConfIndex = 0;
    this.uncommittedSizeBytes = 0;
    this.#readOnly = new ReadOnly(this.config.readOnlyOption);
    this.#pendingReadIndexMessages = [];
  }

  /** Draws a new election timeout in [electionTicks, 2 * electionTicks). */
  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeoutTicks = this.config.electionTicks +
      this.#rng.int(this.config.electionTicks);
  }

  /** Becomes a follower of `lead` (or of nobody yet) in `term`. */
  becomeFollower(term: number, lead: NodeId | null): void {
    this.#reset(term);
    this.lead = lead;
    this.role = "follower";
  }

  /** Becomes a candidate: bumps the term and votes for itself (§5.2). */
  becomeCandidate(): void {
    invariant(this.role !== "leader", "invalid transition [leader -> candidate]");
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  /** Becomes a pre-candidate: polls for a future term without changing term or vote. */
  becomePreCandidate(): void {
    invariant(this.role !== "leader", "invalid transition [leader -> preCandidate]");
    this.trk.resetVotes();
    this.lead = null;
    this.role = "preCandidate";
  }

  /** Becomes leader of the current term and appends an empty entry to commit earlier ones. */
  becomeLeader(): void {
    invariant(this.role !== "follower", "invalid transition [follower -> leader]");
    this.#reset(this.term);
    this.lead = this.id;
    this.role = "leader";
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // A conf change may be pending in the uncommitted tail; until it is
    // applied no new one may be proposed.
    this.pendingConfIndex = this.raftLog.lastIndex();
    const appended = this.#appendEntry([{
      term: 0,
      index: 0,
      type: "normal",
      data: new Uint8Array(0),
    }]);
    invariant(appended, "empty entry was dropped");
  }

  /** Whether this node may become leader: a voter without a pending snapshot. */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    // A node installing a snapshot does not yet know its log or membership.
    return pr !== undefined && !pr.isLearner && this.raftLog.unstable.snapshot === undefined;
  }

  // ---------------------------------------------------------------- ticks

  /** Advances time by one tick. */
  tick(): void {
    if (this.role === "leader") this.#tickHeartbeat();
    else this.#tickElection();
  }

  #tickElection(): void {
    this.electionElapsedTicks++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsedTicks = 0;
      this.step(newMessage({ type: "hup", from: this.id }));
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsedTicks++;
    this.electionElapsedTicks++;
    this.quorumCheckElapsedTicks++;
    if (this.quorumCheckElapsedTicks >= this.config.checkQuorumTicks) {
      this.quorumCheckElapsedTicks = 0;
      if (this.config.checkQuorum) this.step(newMessage({ type: "checkQuorum", from: this.id }));
    }
    if (this.role !== "leader") return;
    if (this.electionElapsedTicks >= this.config.electionTicks) {
      this.electionElapsedTicks = 0;
      // A transfer not done within an election timeout is abandoned, so proposals resume.
      if (this.leadTransferee !== null) this.abortLeaderTransfer();
    }
    if (this.heartbeatElapsedTicks >= this.config.heartbeatTicks) {
      this.heartbeatElapsedTicks = 0;
      this.step(newMessage({ type: "beat", from: this.id }));
    }
  }

  /** Whether the randomized election timeout has elapsed. */
  pastElectionTimeout(): boolean {
    return this.electionElapsedTicks >= this.randomizedElectionTimeoutTicks;
  }

  // ---------------------------------------------------------------- elections

  #hup(t: CampaignType): void {
    if (this.role === "leader") return;
    if (!this.promotable()) return;
    // Campaigning with unapplied conf changes could use a configuration that
    // is about to change; wait until they are applied.
    if (this.#hasUnappliedConfChanges()) return;
    this.campaign(t);
  }

  #hasUnappliedConfChanges(): boolean {
    const lo = this.raftLog.applied + 1;
    const hi = this.raftLog.committed + 1;
    if (lo >= hi) return false;
    // Scan in pages to bound the memory of one slice.
    const pageSizeBytes = 1024 * 1024;
    for (let i = lo; i < hi;) {
      const page = this.raftLog.slice(i, hi, pageSizeBytes);
      for (const e of page) if (e.type === "confChange") return true;
      i += page.length;
    }
    return false;
  }

  /** Starts an election (or pre-election) of the given type. */
  campaign(t: CampaignType): void {
    if (!this.promotable()) return;
    let voteMsg: MessageType;
    let term: number;
    if (t === "preElection") {
      this.becomePreCandidate();
      voteMsg = "preVote";
      // PreVote asks about the term we would campaign in, without moving to it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteMsg = "vote";
      term = this.term;
    }
    if (this.#poll(this.id, true) === "won") {
      // A single-voter configuration wins at once.
      if (t === "preElection") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.trk.voterNodes()) {
      if (id === this.id) continue;
      this.#send({
        type: voteMsg,
        to: id,
        term,
        index: lastIndex,
        logTerm: lastTerm,
        context: t === "transfer" ? CAMPAIGN_TRANSFER_CONTEXT : undefined,
      });
    }
  }

  #poll(id: NodeId, granted: boolean): "pending" | "won" | "lost" {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  // ---------------------------------------------------------------- step

  /**
   * Handles one message: from a peer, or a local event (`hup`, `beat`,
   * `prop`, ...). Throws {@link ProposalDroppedError} when a proposal or read
   * cannot be accepted.
   */
  step(m: Message): void {
    assertSafeIndex("message term", m.term);
    assertSafeIndex("message index", m.index);
    assertSafeIndex("message logTerm", m.logTerm);
    assertSafeIndex("message commit", m.commit);
    if (m.term === 0) {
      // Local message.
    } else if (m.term > this.term) {
      if (m.type === "vote" || m.type === "preVote") {
        const force = sameBytes(m.context, CAMPAIGN_TRANSFER_CONTEXT);
        const inLease = this.config.checkQuorum && this.lead !== null &&
          this.electionElapsedTicks < this.config.electionTicks;
        // Within the lease of a live leader, ignore disruptive candidates (§6 of the thesis).
        if (!force && inLease) return;
      }
      if (m.type === "preVote") {
        // Never change term in response to a PreVote.
      } else if (m.type === "preVoteResp" && !m.reject) {
        // We asked about a future term; the term moves only if we win the real election.
      } else if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if (
        (this.config.checkQuorum || this.config.preVote) &&
        (m.type === "heartbeat" || m.type === "app")
      ) {
        // A stale leader would otherwise never learn of the new term when
        // its messages are ignored: with CheckQuorum or PreVote, a node that
        // ignored it never campaigns against it with a higher term.
        this.#send({ type: "appResp", to: m.from });
      } else if (m.type === "preVote") {
        // Reject so the pre-candidate learns it is behind.
        this.#send({ type: "preVoteResp", to: m.from, term: this.term, reject: true });
      }
      return;
    }

    switch (m.type) {
      case "hup":
        this.#hup(this.config.preVote ? "preElection" : "election");
        return;
      case "vote":
      case "preVote": {
        const canVote = this.vote === m.from ||
          (this.vote === null && this.lead === null) ||
          (m.type === "preVote" && m.term > this.term);
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          // The response carries the request's term: for PreVote that is a
          // future term the candidate uses to match responses.
          this.#send({ type: voteRespType(m.type), to: m.from, term: m.term });
          if (m.type === "vote") {
            this.electionElapsedTicks = 0;
            this.vote = m.from;
          }
        } else {
          this.#send({ type: voteRespType(m.type), to: m.from, term: this.term, reject: true });
        }
        return;
      }
    }
    switch (this.role) {
      case "leader":
        this.#stepLeader(m);
        return;
      case "candidate":
      case "preCandidate":
        this.#stepCandidate(m);
        return;
      case "follower":
        this.#stepFollower(m);
        return;
    }
  }

  #stepLeader(m: Message): void {
    switch (m.type) {
      case "beat":
        this.#bcastHeartbeat();
        return;
      case "checkQuorum": {
        const self = this.trk.progress.get(this.id);
        if (self !== undefined) self.recentActive = true;
        if (!this.trk.quorumActive()) {
          this.becomeFollower(this.term, null);
          return;
        }
        this.trk.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false;
        });
        return;
      }
      case "prop":
        // A forwarded proposal is taken only by the leader of the term it was
        // forwarded in: a copy that reaches this node again in a later term
        // of its leadership (a duplicate, a late delivery) could otherwise be
        // appended twice.
        if (m.from !== this.id && m.logTerm !== this.term) return;
        this.#leaderPropose(m);
        return;
      case "readIndex":
        this.#leaderReadIndex(m);
        return;
    }
    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case "appResp":
        this.#handleAppendResponse(m, pr);
        return;
      case "heartbeatResp":
        this.#handleHeartbeatResponse(m, pr);
        return;
      case "snapStatus":
        if (pr.state !== "snapshot") return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response before probing: the follower may still be applying.
        pr.msgAppFlowPaused = true;
        return;
      case "unreachable":
        // Optimistic appends to an unreachable follower are likely lost.
        if (pr.state === "replicate") pr.becomeProbe();
        return;
      case "transferLeader":
        this.#handleTransferLeader(m, pr);
        return;
    }
  }

  #leaderPropose(m: Message): void {
    invariant(m.entries.length > 0, "stepped an empty proposal");
    if (!this.trk.progress.has(this.id)) {
      throw new ProposalDroppedError(
        "notInConfiguration",
        `leader ${this.id} was removed from the configuration`,
      );
    }
    if (this.leadTransferee !== null) {
      throw new ProposalDroppedError(
        "leaderTransferInProgress",
        `leadership is being transferred to ${this.leadTransferee}`,
      );
    }
    const entries = m.entries.map((e) => ({
      term: e.term,
      index: e.index,
      type: e.type,
      data: e.data,
    }));
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.type !== "confChange") continue;
      const cc = decodeConfChange(e.data);
      // Refused: a change is still unapplied (one at a time), a joint config
      // must be left before another change, and only a joint config can be left.
      const refused = this.pendingConfIndex > this.raftLog.applied ||
        this.trk.config.voters.isJoint !== leaveJoint(cc);
      if (refused) {
        // Keep the proposal's position but make it a no-op, so indices the
        // proposer observes stay meaningful.
        entries[i] = { ...e, type: "normal", data: new Uint8Array(0) };
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
      }
    }
    if (!this.#appendEntry(entries)) {
      throw new ProposalDroppedError(
        "uncommittedSizeLimit",
        `uncommitted entries would exceed ${this.config.maxUncommittedEntriesSizeBytes} bytes`,
      );
    }
    this.bcastAppend();
  }

  #appendEntry(entries: Entry[]): boolean {
    const lastIndex = this.raftLog.lastIndex();
    for (let i = 0; i < entries.length; i++) {
      entries[i].term = this.term;
      entries[i].index = lastIndex + 1 + i;
    }
    if (!this.#increaseUncommittedSize(entries)) return false;
    const newLast = this.raftLog.append(entries);
    // With asyncLeaderAppend the append is not durable yet and counts only once
    // persisted (ownAppendPersisted). Otherwise the Ready contract persists it
    // before any message that depends on it is sent.
    if (
      this.config.asyncLeaderAppend && !this.config.testingBugs.leaderCountsSelfBeforeDurable
    ) return true;
    this.trk.progress.get(this.id)?.maybeUpdate(newLast);
    this.maybeCommit();
    return true;
  }

  /**
   * The driver made this node's log durable up to `index` (whose entry has
   * `term`). Under `asyncLeaderAppend` a leader counts its own log towards the
   * commit quorum only from here on.
   */
  ownAppendPersisted(index: number, term: number): void {
    if (!this.config.asyncLeaderAppend || this.role !== "leader") return;
    // A log truncated since the write was handed out no longer holds what was persisted.
    if (!this.raftLog.matchTerm(index, term)) return;
    const self = this.trk.progress.get(this.id);
    if (self === undefined || !self.maybeUpdate(index)) return;
    if (this.maybeCommit()) this.bcastAppend();
  }

  #increaseUncommittedSize(entries: readonly Entry[]): boolean {
    const size = payloadSizeBytes(entries);
    if (
      this.uncommittedSizeBytes > 0 && size > 0 &&
      this.uncommittedSizeBytes + size > this.config.maxUncommittedEntriesSizeBytes
    ) {
      // The first proposal is always let through, however large, so a big
      // entry cannot wedge the leader.
      return false;
    }
    this.uncommittedSizeBytes += size;
    return true;
  }

  /** Releases the uncommitted-size budget of entries that were committed and applied. */
  reduceUncommittedSize(sizeBytes: number): void {
    // The leader may have been elected after these entries were proposed.
    this.uncommittedSizeBytes = Math.max(0, this.uncommittedSizeBytes - sizeBytes);
  }

  #committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  #leaderReadIndex(m: Message): void {
    if (this.trk.isSingleton()) {
      this.#respondToReadIndex(m, this.raftLog.committed);
      return;
    }
    // Until an entry of its term commits, the leader does not know the
    // latest commit index (§6.4 of the thesis): postpone the read.
    if (!this.#committedEntryInCurrentTerm()) {
      if (this.#pendingReadIndexMessages.length >= this.#readOnly.maxPendingRequests) {
        throw new ProposalDroppedError(
          "readQueueFull",
          `${this.#pendingReadIndexMessages.length} reads already wait for the first commit of term ${this.term}`,
        );
      }
      this.#pendingReadIndexMessages.push(m);
      return;
    }
    this.#sendReadIndexResponse(m);
  }

  #sendReadIndexResponse(m: Message): void {
    const ctx = m.context;
    invariant(ctx !== undefined, "readIndex request without a context");
    if (this.config.readOnlyOption === "safe") {
      if (this.#readOnly.full()) {
        throw new ProposalDroppedError(
          "readQueueFull",
          `${this.#readOnly.pendingCount} reads already await a heartbeat quorum`,
        );
      }
      this.#readOnly.addRequest(this.raftLog.committed, m);
      // The leader acknowledges itself; a heartbeat round asks the others.
      const acks = this.#readOnly.recvAck(this.id, ctx);
      if (acks !== undefined && this.trk.config.voters.voteResult(acks) === "won") {
        for (
          const rs of this.#readOnly.advance(newMessage({ type: "heartbeatResp", context: ctx }))
        ) {
          this.#respondToReadIndex(rs.req, rs.index);
        }
        return;
      }
      this.#bcastHeartbeatWithCtx(ctx);
    } else {
      this.#respondToReadIndex(m, this.raftLog.committed);
    }
  }

  #respondToReadIndex(req: Message, index: number): void {
    const requestCtx = req.context ?? new Uint8Array(0);
    if (req.from === this.id || req.from === "") {
      this.readStates.push({ index, requestCtx });
      return;
    }
    this.#send({ type: "readIndexResp", to: req.from, index, context: requestCtx });
  }

  #releasePendingReadIndexMessages(): void {
    if (this.#pendingReadIndexMessages.length === 0) return;
    if (!this.#committedEntryInCurrentTerm()) return;
    const pending = this.#pendingReadIndexMessages;
    this.#pendingReadIndexMessages = [];
    for (const m of pending) {
      try {
        this.#sendReadIndexResponse(m);
      } catch (e) {
        // A read that no longer fits is dropped like any unanswered read:
        // its requester times out and retries.
        if (!(e instanceof ProposalDroppedError)) throw e;
      }
    }
  }

  #handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      // Fast backtracking: the follower's hint (rejectHint, logTerm) is its
      // last index whose term is <= the probed term; skip every leader entry
      // of a term above the hint's term in one round trip.
      let nextProbeIndex = m.rejectHint;
      if (m.logTerm > 0) {
        nextProbeIndex = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm).index;
      }
      if (pr.maybeDecrTo(m.index, nextProbeIndex)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    // A probe acknowledged at the match index also proves the follower is
    // caught up there, so replication may resume.
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === "probe")) return;
    if (pr.state === "probe") {
      pr.becomeReplicate();
    } else if (pr.state === "snapshot" && pr.match + 1 >= this.raftLog.firstIndex()) {
      // The follower caught up past the compaction point (e.g. via the
      // snapshot): it can be fed from the log again.
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.#releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (oldPaused) {
      this.sendAppend(m.from);
    }
    // Pipeline: send as many further appends as flow control allows. Bounded
    // by the inflight window (each send adds one) and by the log length.
    for (let i = 0; i < this.config.maxInflightMsgs; i++) {
      if (!this.#maybeSendAppend(m.from, false)) break;
    }
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.#send({ type: "timeoutNow", to: m.from });
    }
  }

  #handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.msgAppFlowPaused = false;
    // Even a paused follower gets an (empty) append, so one whose appends
    // were all lost recovers; a caught-up follower in probe state gets one
    // so it returns to replicate state.
    if (pr.match < this.raftLog.lastIndex() || pr.state === "probe") this.sendAppend(m.from);
    if (this.config.readOnlyOption !== "safe" || m.context === undefined) return;
    const acks = this.#readOnly.recvAck(m.from, m.context);
    if (acks === undefined || this.trk.config.voters.voteResult(acks) !== "won") return;
    for (const rs of this.#readOnly.advance(m)) this.#respondToReadIndex(rs.req, rs.index);
  }

  #handleTransferLeader(m: Message, pr: Progress): void {
    if (pr.isLearner) return;
    const transferee = m.from;
    if (this.leadTransferee !== null) {
      if (this.leadTransferee === transferee) return;
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return;
    // The transfer must finish within one election timeout or it is abandoned.
    this.electionElapsedTicks = 0;
    this.leadTransferee = transferee;
    if (pr.match === this.raftLog.lastIndex()) {
      this.#send({ type: "timeoutNow", to: transferee });
    } else {
      this.sendAppend(transferee);
    }
  }

  /** Abandons an ongoing leadership transfer. */
  abortLeaderTransfer(): void {
    this.leadTransferee = null;
  }

  #stepCandidate(m: Message): void {
    const myVoteRespType: MessageType = this.role === "preCandidate" ? "preVoteResp" : "voteResp";
    switch (m.type) {
      case "prop":
        throw new ProposalDroppedError("candidate", `${this.id} is campaigning; no leader known`);
      case "readIndex":
        throw new ProposalDroppedError("candidate", `${this.id} is campaigning; no leader known`);
      case "app":
        this.becomeFollower(m.term, m.from);
        this.#handleAppendEntries(m);
        return;
      case "heartbeat":
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case "snap":
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
      case "timeoutNow":
        return;
    }
    if (m.type !== myVoteRespType) return;
    const result = this.#poll(m.from, !m.reject);
    if (result === "won") {
      if (this.role === "preCandidate") {
        this.campaign("election");
      } else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (result === "lost") {
      // A rejecting voter of a higher term was handled by step; here the term is unchanged.
      this.becomeFollower(this.term, null);
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case "prop":
        if (this.lead === null) {
          throw new ProposalDroppedError(
            "noLeader",
            `${this.id} knows no leader in term ${this.term}`,
          );
        }
        if (this.config.disableProposalForwarding) {
          throw new ProposalDroppedError(
            "forwardingDisabled",
            `${this.id} is not the leader (${this.lead} is) and does not forward proposals`,
          );
        }
        // Only this node's own proposals are forwarded, never relayed: the
        // stamp (`logTerm`: the term of the leader it is sent to) then names
        // the one leadership that may append it.
        if (m.from !== this.id) return;
        this.msgs.push({ ...m, to: this.lead, term: 0, logTerm: this.term });
        return;
      case "app":
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.#handleAppendEntries(m);
        return;
      case "heartbeat":
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case "snap":
        this.electionElapsedTicks = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return;
      case "transferLeader":
        if (this.lead === null) return;
        this.msgs.push({ ...m, to: this.lead, term: this.term });
        return;
      case "timeoutNow":
        // The leader chose us: campaign at once, skipping PreVote, forcing past leases.
        this.#hup("transfer");
        return;
      case "readIndex":
        if (this.lead === null) {
          throw new ProposalDroppedError("noLeader", `${this.id} knows no leader for a read`);
        }
        this.msgs.push({ ...m, to: this.lead, term: 0 });
        return;
      case "readIndexResp":
        this.readStates.push({ index: m.index, requestCtx: m.context ?? new Uint8Array(0) });
        return;
    }
  }

  #handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      // Everything up to our commit index is already known to match.
      this.#send({ type: "appResp", to: m.from, index: this.raftLog.committed });
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.#send({ type: "appResp", to: m.from, index: lastNew });
      return;
    }
    // Fast backtracking hint: our last index whose term is <= the probed
    // term. The leader can skip everything above it in one round trip.
    const hint = this.raftLog.findConflictByTerm(
      Math.min(m.index, this.raftLog.lastIndex()),
      m.logTerm,
    );
    this.#send({
      type: "appResp",
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  #handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(m.commit);
    this.#send({ type: "heartbeatResp", to: m.from, context: m.context });
  }

  #handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    invariant(snapshot !== undefined, "snap message without a snapshot");
    if (this.#restore(snapshot)) {
      this.#send({ type: "appResp", to: m.from, index: this.raftLog.lastIndex() });
    } else {
      this.#send({ type: "appResp", to: m.from, index: this.raftLog.committed });
    }
  }

  // Installs `snapshot` if it is news; returns whether it was installed.
  #restore(snapshot: Snapshot): boolean {
    const { index, term, confState } = snapshot.metadata;
    assertSafeIndex("snapshot index", index);
    assertSafeIndex("snapshot term", term);
    if (index <= this.raftLog.committed) return false;
    invariant(
      this.role === "follower",
      () => `${this.role} ${this.id} asked to restore a snapshot`,
    );
    // The snapshot may predate this node's own addition (a leader serves its
    // latest snapshot); installing it is still safe, because membership is
    // decided by the snapshot's configuration plus the entries that follow.
    if (this.raftLog.matchTerm(index, term)) {
      // We already hold this prefix: fast-forward the commit index instead.
      this.raftLog.commitTo(index);
      return false;
    }
    this.raftLog.restore(snapshot);
    const restored = restoreConfig(
      new Changer(
        new ProgressTracker(this.config.maxInflightMsgs, this.config.maxInflightBytes),
        this.raftLog.lastIndex(),
      ),
      confState,
    );
    this.#switchToConfig(restored);
    // A member's own progress reflects the installed log; a node the
    // snapshot does not list yet has none until its addition is applied.
    const self = this.trk.progress.get(this.id);
    self?.maybeUpdate(self.next - 1);
    return true;
  }

  #loadState(hs: HardState): void {
    invariant(
      hs.commit >= this.raftLog.committed && hs.commit <= this.raftLog.lastIndex(),
      () =>
        `hard state commit ${hs.commit} is out of range [${this.raftLog.toString()}, lastIndex ${this.raftLog.lastIndex()}]`,
    );
    assertSafeIndex("hard state term", hs.term);
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  // ---------------------------------------------------------------- membership

  /** Applies a committed membership change and returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState {
    const changer = new Changer(this.trk, this.raftLog.lastIndex());
    let next: ConfigAndProgress;
    if (leaveJoint(cc)) {
      next = changer.leaveJoint();
    } else {
      const joint = enterJoint(cc);
      next = joint === null
        ? changer.simple(cc.changes)
        : changer.enterJoint(joint.autoLeave, cc.changes);
    }
    return this.#switchToConfig(next);
  }

  #switchToConfig(next: ConfigAndProgress): ConfState {
    this.trk.config = next.config;
    this.trk.progress = next.progress;
    const cs = this.trk.confState();
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr?.isLearner ?? false;
    if ((pr === undefined || this.isLearner) && this.role === "leader") {
      // A leader removed (or demoted) by the change it just applied stops
      // leading, so the remaining voters can elect one of their own. It first
      // tells them the commit index: otherwise they would not learn that the
      // change committed until a new leader, elected under the old
      // configuration, told them.
      if (this.config.stepDownOnRemoval) {
        this.bcastAppend();
        this.becomeFollower(this.term, null);
      }
      return cs;
    }
    if (this.role !== "leader" || cs.voters.length === 0) return cs;
    // The quorum may have shrunk, committing more; otherwise still probe new members.
    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      this.trk.visit((id) => {
        if (id !== this.id) this.#maybeSendAppend(id, false);
      });
    }
    if (this.leadTransferee !== null && !this.trk.config.voters.has(this.leadTransferee)) {
      this.abortLeaderTransfer();
    }
    return cs;
  }

  /**
   * Records that the application applied entries up to `index` (`sizeBytes` of
   * payload) and, on the leader, leaves an auto-leave joint configuration once
   * it is applied.
   */
  appliedTo(index: number, sizeBytes: number): void {
    const newApplied = Math.max(index, this.raftLog.applied);
    this.raftLog.appliedTo(newApplied);
    if (this.role === "leader") this.reduceUncommittedSize(sizeBytes);
    if (
      this.trk.config.autoLeave && newApplied >= this.pendingConfIndex && this.role === "leader"
    ) {
      // The empty conf change leaves the joint configuration; it has no
      // payload so the uncommitted-size guard never refuses it.
      const leave = newMessage({
        type: "prop",
        from: this.id,
        entries: [{ term: 0, index: 0, type: "confChange", data: LEAVE_JOINT_DATA }],
      });
      try {
        this.step(leave);
      } catch (e) {
        // A transfer in progress blocks it for now; a later apply retries.
        if (!(e instanceof ProposalDroppedError)) throw e;
      }
    }
  }
}
