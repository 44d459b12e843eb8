/**
 * A gateway cluster node as a sans-IO state machine: it owns the Raft
 * ready/advance loop, the persistence ordering, the replicated state machine
 * and the bookkeeping of client requests. Drivers feed {@link NodeEvent}s and
 * execute the returned {@link NodeEffect}s; the simulator and the real
 * transports run this same code.
 *
 * The ordering rule: whatever a `ready()` asks to persist is handed out as a
 * `persist` effect, and nothing from that ready (messages, applies, replies)
 * leaves the node until the driver reports `persisted`. Only one ready is in
 * flight at a time, but its committed entries that are already in the durable
 * log go ahead behind a persist of the commit index alone (issued first), so
 * they are applied without waiting for the fsync of the new entries beside
 * them. One exception, when the Raft core counts the leader's own
 * appends only once persisted (`asyncLeaderAppend`): a leader's appends,
 * snapshots and heartbeats of a durable term go out before the persist, so
 * followers write in parallel with the leader (Raft thesis §10.2.1).
 *
 * With `forwardProposals`, a follower that knows the leader hands a client
 * command to it in a Raft `prop` message, stamped with the leader's term, and
 * answers the client when the command applies here (the envelope names this
 * node and the request). A forwarded proposal is appended at most once: only
 * the leader of the stamped term takes it, and that leader drops a copy it
 * has already taken (per proposer incarnation, sequence numbers only grow).
 * Whatever the forwarding leader does is unknown to the follower once its
 * term or its leader changes: then every waiting command fails as
 * `LeadershipLost` with `outcomeUnknown`.
 *
 * Snapshots never cross the network whole: a `snap` message Raft emits is
 * streamed in bounded `snapChunk`s (see `snapshot_transfer.ts`), interleaved
 * with heartbeats and appends, and Raft hears `reportSnapshot` from the
 * transfer's real outcome; a follower steps the snapshot into Raft once all
 * of it arrived and its checksum matches.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import type { TestingBugs } from "../raft/config.ts";
import type { MemoryStorage } from "../raft/storage.ts";
import { decodeConfChange } from "../raft/confchange/conf_change.ts";
import { ProposalDroppedError } from "../raft/errors.ts";
import { withDefaults } from "../defaults.ts";
import { newMessage } from "../raft/raft.ts";
import type {
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  Ready,
  SoftState,
} from "../raft/types.ts";
import { decodeEnvelope, encodeEnvelope, type Envelope, isEnvelope } from "./envelope.ts";
import type { RaftCore } from "./raft_core.ts";
import {
  DEFAULT_SNAPSHOT_TRANSFER,
  SnapshotReceiver,
  SnapshotSender,
  type SnapshotTransferConfig,
} from "./snapshot_transfer.ts";
import type {
  ClientRequest,
  NodeEffect,
  NodeError,
  NodeEvent,
  NodeReply,
  SnapshotSteps,
  StateMachine,
} from "./types.ts";

/** How a node is put together. */
export interface ClusterNodeConfig<Q, R> {
  /** This node's id. */
  id: NodeId;
  /** The Raft core, already bootstrapped or restarted from `storage`. */
  raft: RaftCore;
  /** The storage `raft` reads; the node writes to it once writes are durable. */
  storage: MemoryStorage;
  /** The replicated state machine, restored to `appliedIndex`. */
  stateMachine: StateMachine<Q, R>;
  /** Index the state machine already reflects (the snapshot index at restart). */
  appliedIndex: number;
  /** Configuration the state machine reflects at `appliedIndex`. */
  confState: ConfState;
  /** Source of the incarnation nonce that tags this node's proposals. */
  rng: Rng;
  /**
   * Take a snapshot and compact every this many applied entries; 0: never.
   * Voters snapshot at different points of the cycle (see `#nextSnapshotIndex`).
   */
  snapshotEveryEntries: number;
  /** Bound on outstanding client requests; more are refused with `Overloaded`. */
  maxPendingRequests: number;
  /**
   * Followers forward client commands to the leader (Raft `prop` messages)
   * instead of refusing them with `NotLeader`. Default false.
   */
  forwardProposals?: boolean;
  /**
   * How snapshots are streamed to followers (chunk size, window, timeouts,
   * the largest snapshot accepted); defaults to {@link DEFAULT_SNAPSHOT_TRANSFER}.
   * The chunk size must leave room under the transport's message limit.
   */
  snapshotTransfer?: Partial<SnapshotTransferConfig>;
  /** Mutation-testing hook for the simulator (see {@link TestingBugs}); off by default. */
  testingBugs?: Pick<TestingBugs, "commitAheadBeforeDurable">;
}

/**
 * Items (records, leases, watch events) of a snapshot encoded per tick: about
 * 1 MB and a few ms at 256-byte values, so a 16 MB state takes ~16 ticks.
 */
const SNAPSHOT_ITEMS_PER_TICK = 4_000;

/**
 * A snapshot leaves `snapshotEveryEntries / SNAPSHOT_CATCH_UP_FRACTION` of
 * the entries it covers in the log (5 000 of 100 000, as etcd keeps).
 */
const SNAPSHOT_CATCH_UP_FRACTION = 20;

/** Bound on ready rounds per event, so one event cannot spin the node. */
const MAX_READY_ROUNDS_PER_EVENT = 64;
/**
 * Proposer incarnations a leader tracks per term for forwarded proposals;
 * proposals of further ones are dropped (their clients time out).
 */
const MAX_FORWARDING_ORIGINS = 1024;

/** Committed entries of an in-flight ready applied ahead of its persist (see `#commitAhead`). */
interface CommitAhead {
  persistId: number;
  hardState: HardState;
  entries: Entry[];
  done: boolean;
}

interface PendingRead<Q> {
  requestId: number;
  query: Q;
  /** Commit index the read must wait for; -1 until the ReadIndex is confirmed. */
  index: number;
}

/**
 * The node: feed it events, execute the effects it returns, in order.
 *
 * @example
 * ```ts
 * import { SeededRng } from "../rng.ts";
 * import { RawNode } from "../raft/rawnode.ts";
 * import { emptyConfState, MemoryStorage } from "../raft/storage.ts";
 * import { KvStateMachine } from "./kv_state_machine.ts";
 * import { ClusterNode } from "./node.ts";
 *
 * const storage = new MemoryStorage();
 * const raft = new RawNode({
 *   id: "a", electionTicks: 10, heartbeatTicks: 1, storage, rng: new SeededRng(1),
 * });
 * raft.bootstrap(["a"]);
 * const node = new ClusterNode({
 *   id: "a", raft, storage, stateMachine: new KvStateMachine(), appliedIndex: 0,
 *   confState: emptyConfState(), rng: new SeededRng(2), snapshotEveryEntries: 0,
 *   maxPendingRequests: 100,
 * });
 * // The bootstrap configuration must be made durable before anything else happens.
 * const [effect] = node.handle({ type: "tick" });
 * console.assert(effect.type === "persist" && effect.mustSync);
 * ```
 */
export class ClusterNode<Q, R> {
  /** This node's id. */
  readonly id: NodeId;
  readonly #raft: RaftCore;
  readonly #storage: MemoryStorage;
  readonly #sm: StateMachine<Q, R>;
  readonly #config: ClusterNodeConfig<Q, R>;
  readonly #nonce: number;
  #proposalSeq = 0;
  #readSeq = 0;
  #nextPersistId = 1;
  #inflight: { persistId: number; ready: Ready; ahead?: CommitAhead } | undefined;
  #applied: number;
  #snapshotIndex: number;
  /** The snapshot being encoded a step per tick, captured at applied `index`. */
  #encoding: { index: number; confState: ConfState; steps: SnapshotSteps } | undefined;
  #confState: ConfState;
  #soft: SoftState = { lead: null, role: "follower" };
  #term = 0;
  /** Term of the hard state the driver last reported durable. */
  #durableTerm = 0;
  /** Commands proposed here, by proposal sequence number. */
  readonly #pendingCommands = new Map<number, number>();
  /** Linearizable reads, by read sequence number. */
  readonly #pendingReads = new Map<number, PendingRead<Q>>();
  /** Term of the forwarded proposals in `#forwardedSeqs`. */
  #forwardedTerm = 0;
  /** Highest proposal sequence number taken in `#forwardedTerm`, per proposer nonce. */
  readonly #forwardedSeqs = new Map<number, number>();
  readonly #snapshotSender: SnapshotSender;
  readonly #snapshotReceiver: SnapshotReceiver;

  /** Builds a node around an existing Raft core and storage. */
  constructor(config: ClusterNodeConfig<Q, R>) {
    this.id = config.id;
    this.#raft = config.raft;
    this.#storage = config.storage;
    this.#sm = config.stateMachine;
    this.#config = config;
    this.#nonce = config.rng.int(0x1_0000_0000);
    this.#applied = config.appliedIndex;
    this.#snapshotIndex = config.appliedIndex;
    this.#confState = config.confState;
    this.#term = config.storage.initialState().hardState.term;
    this.#durableTerm = this.#term;
    const transfer = withDefaults(DEFAULT_SNAPSHOT_TRANSFER, config.snapshotTransfer);
    this.#snapshotSender = new SnapshotSender(config.id, transfer);
    this.#snapshotReceiver = new SnapshotReceiver(config.id, transfer);
  }

  /** Index of the last entry applied to the state machine. */
  get appliedIndex(): number {
    return this.#applied;
  }

  /** The Raft storage: the durable log and hard state as far as the driver reported them. */
  get storage(): MemoryStorage {
    return this.#storage;
  }

  /** The node's current view of leadership. */
  get softState(): SoftState {
    return this.#soft;
  }

  /** Latest term this node has handed out for persistence. */
  get term(): number {
    return this.#term;
  }

  /** Whether a persist is outstanding. */
  get awaitingPersist(): boolean {
    return this.#inflight !== undefined;
  }

  /** Requests waiting for an outcome. */
  get pendingRequests(): number {
    return this.#pendingCommands.size + this.#pendingReads.size;
  }

  /** The current configuration as of the applied index. */
  get confState(): ConfState {
    return this.#confState;
  }

  /** Handles one event and returns what the driver must do, in order. */
  handle(event: NodeEvent<Q>): NodeEffect<R>[] {
    const effects: NodeEffect<R>[] = [];
    switch (event.type) {
      case "tick":
        this.#raft.tick();
        this.#encodeSnapshotStep(effects);
        this.#tickSnapshotTransfers(effects);
        break;
      case "message":
        this.#message(event.message, effects);
        break;
      case "request":
        this.#request(event.requestId, event.request, effects);
        break;
      case "cancel":
        this.#cancel(event.requestId);
        break;
      case "persisted":
        this.#persisted(event.persistId, effects);
        break;
      case "unreachable":
        this.#raft.reportUnreachable(event.peer);
        break;
      case "campaign":
        this.#raft.campaign();
        break;
      case "transferLeader":
        this.#raft.transferLeader(event.to);
        break;
    }
    this.#drain(effects);
    this.#streamSnapshots(effects);
    return effects;
  }

  #message(m: Message, effects: NodeEffect<R>[]): void {
    if (m.to !== this.id) throw new Error(`node ${this.id} got a message for ${m.to}`);
    switch (m.type) {
      case "prop":
        this.#stepForwarded(m);
        return;
      case "snapChunk": {
        const { ack, snap } = this.#snapshotReceiver.onChunk(m);
        if (ack) effects.push({ type: "send", messages: [ack] });
        if (snap) this.#raft.step(snap);
        return;
      }
      case "snapAck": {
        const chunks: Message[] = [];
        const report = this.#snapshotSender.onAck(m, chunks);
        if (chunks.length > 0) effects.push({ type: "send", messages: chunks });
        if (report) this.#raft.reportSnapshot(report.peer, report.ok);
        return;
      }
      default:
        this.#raft.step(m);
    }
  }

  /** Replaces every whole `snap` message about to be sent with the first chunks of its stream. */
  #streamSnapshots(effects: NodeEffect<R>[]): void {
    for (const effect of effects) {
      if (effect.type !== "send" || !effect.messages.some((m) => m.type === "snap")) continue;
      const messages: Message[] = [];
      for (const m of effect.messages) {
        if (m.type === "snap") this.#snapshotSender.start(m, messages);
        else messages.push(m);
      }
      effect.messages = messages;
    }
  }

  #tickSnapshotTransfers(effects: NodeEffect<R>[]): void {
    this.#snapshotReceiver.tick();
    const chunks: Message[] = [];
    for (const report of this.#snapshotSender.tick(chunks)) {
      this.#raft.reportSnapshot(report.peer, report.ok);
    }
    if (chunks.length > 0) effects.push({ type: "send", messages: chunks });
  }

  #request(requestId: number, request: ClientRequest<Q>, effects: NodeEffect<R>[]): void {
    if (this.pendingRequests >= this.#config.maxPendingRequests) {
      this.#fail(requestId, {
        code: "Overloaded",
        pendingLimit: this.#config.maxPendingRequests,
        outcomeUnknown: false,
      }, effects);
      return;
    }
    if (request.kind === "read" && request.consistency === "serializable") {
      effects.push({
        type: "reply",
        requestId,
        reply: { ok: true, value: this.#sm.read(request.query), index: this.#applied },
      });
      return;
    }
    if (this.#soft.role !== "leader") {
      const lead = this.#soft.lead;
      if (
        request.kind === "command" && this.#config.forwardProposals === true &&
        this.#soft.role === "follower" && lead !== null && lead !== this.id
      ) {
        this.#forward(requestId, request.command, lead, effects);
        return;
      }
      this.#fail(requestId, {
        code: "NotLeader",
        leaderHint: this.#soft.lead,
        outcomeUnknown: false,
      }, effects);
      return;
    }
    if (request.kind === "command" || request.kind === "confChange") {
      const seq = ++this.#proposalSeq;
      try {
        if (request.kind === "command") {
          this.#raft.propose(encodeEnvelope(this.#nonce, seq, request.command));
        } else {
          // The envelope rides in the context, so the proposer can answer on apply.
          const context = encodeEnvelope(
            this.#nonce,
            seq,
            request.change.context ?? new Uint8Array(),
          );
          this.#raft.proposeConfChange({ ...request.change, context });
        }
      } catch (error) {
        this.#failDropped(requestId, error, effects);
        return;
      }
      this.#pendingCommands.set(seq, requestId);
      return;
    }
    const seq = ++this.#readSeq;
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setFloat64(0, seq, true);
    try {
      this.#raft.readIndex(ctx);
    } catch (error) {
      this.#failDropped(requestId, error, effects);
      return;
    }
    this.#pendingReads.set(seq, { requestId, query: request.query, index: -1 });
  }

  /**
   * Sends a command to the leader of this node's durable term (the term in
   * which it learned `lead`), bypassing the ready cycle: a proposal depends on
   * nothing this node has yet to persist.
   */
  #forward(requestId: number, command: Uint8Array, lead: NodeId, effects: NodeEffect<R>[]): void {
    const seq = ++this.#proposalSeq;
    const message = newMessage({
      type: "prop",
      from: this.id,
      to: lead,
      logTerm: this.#durableTerm,
      entries: [{
        term: 0,
        index: 0,
        type: "normal",
        data: encodeEnvelope(this.#nonce, seq, command),
      }],
    });
    effects.push({ type: "send", messages: [message] });
    this.#pendingCommands.set(seq, requestId);
  }

  /**
   * Steps a proposal forwarded by a peer, without the entries this node has
   * already taken in the stamped term: a duplicate delivery is never appended
   * twice. Only command envelopes are taken.
   */
  #stepForwarded(m: Message): void {
    if (m.logTerm < this.#forwardedTerm) return;
    if (m.logTerm > this.#forwardedTerm) {
      this.#forwardedTerm = m.logTerm;
      this.#forwardedSeqs.clear();
    }
    const taken: Entry[] = [];
    for (const entry of m.entries) {
      if (entry.type !== "normal" || !isEnvelope(entry.data)) continue;
      const { originNonce, proposalSeq } = decodeEnvelope(entry.data);
      const last = this.#forwardedSeqs.get(originNonce);
      if (last === undefined && this.#forwardedSeqs.size >= MAX_FORWARDING_ORIGINS) continue;
      if (last !== undefined && proposalSeq <= last) continue;
      this.#forwardedSeqs.set(originNonce, proposalSeq);
      taken.push(entry);
    }
    if (taken.length === 0) return;
    this.#raft.step(taken.length === m.entries.length ? m : { ...m, entries: taken });
  }

  /** Forgets a request; a ReadIndex that never completes must not hold its slot forever. */
  #cancel(requestId: number): void {
    for (const [seq, id] of this.#pendingCommands) {
      if (id === requestId) this.#pendingCommands.delete(seq);
    }
    for (const [seq, read] of this.#pendingReads) {
      if (read.requestId === requestId) this.#pendingReads.delete(seq);
    }
  }

  #fail(requestId: number, error: NodeError, effects: NodeEffect<R>[]): void {
    effects.push({ type: "reply", requestId, reply: { ok: false, error } });
  }

  /** Answers a request whose proposal or read Raft refused; any other error is a bug and rethrown. */
  #failDropped(requestId: number, error: unknown, effects: NodeEffect<R>[]): void {
    if (!(error instanceof ProposalDroppedError)) throw error;
    this.#fail(requestId, {
      code: "ProposalDropped",
      reason: error.message,
      outcomeUnknown: false,
    }, effects);
  }

  #drain(effects: NodeEffect<R>[]): void {
    for (let round = 0; round < MAX_READY_ROUNDS_PER_EVENT; round++) {
      if (this.#inflight !== undefined || !this.#raft.hasReady()) return;
      const ready = this.#raft.ready();
      if (ready.hardState) this.#term = ready.hardState.term;
      const mustPersist = ready.hardState !== undefined || ready.entries.length > 0 ||
        ready.snapshot !== undefined;
      if (!mustPersist) {
        this.#finish(ready, effects);
        // One ready of committed entries (maxCommittedSizePerReadyBytes) per
        // event; the rest waits for the next one, a tick at the latest:
        // applying a restarted or caught-up node's backlog in one go held its
        // event loop for 400-660 ms.
        if (ready.committedEntries.length > 0) return;
        continue;
      }
      const persistId = this.#nextPersistId++;
      if (this.#raft.asyncLeaderAppend === true) {
        this.#sendBeforePersist(ready, effects);
      }
      const ahead = this.#commitAhead(ready, effects);
      this.#inflight = { persistId, ready, ahead };
      effects.push({
        type: "persist",
        persistId,
        hardState: ready.hardState,
        entries: ready.entries,
        snapshot: ready.snapshot,
        // A received snapshot replaces the log: it must be durable before it is acknowledged.
        mustSync: ready.mustSync || ready.snapshot !== undefined,
      });
    }
  }

  /**
   * Sends at once the messages of `ready` that do not depend on its persist and
   * leaves the rest in it. A leader's appends, snapshots and heartbeats carry
   * its own log, which the core does not count until persisted, and its term,
   * which must already be durable: a term (or the vote in it) lost in a crash
   * could contradict a message already sent.
   */
  #sendBeforePersist(ready: Ready, effects: NodeEffect<R>[]): void {
    const early: Message[] = [];
    const held: Message[] = [];
    for (const m of ready.messages) {
      const leaderMessage = m.type === "app" || m.type === "snap" || m.type === "heartbeat";
      (leaderMessage && m.term === this.#durableTerm ? early : held).push(m);
    }
    if (early.length === 0) return;
    effects.push({ type: "send", messages: early });
    ready.messages = held;
  }

  /**
   * Splits off the committed entries of `ready` that are already in the
   * durable log, behind a persist of the commit index alone: they are applied
   * (and answered) as soon as that tiny write is done, instead of after the
   * fsync of the new entries that share the ready. Without it, an entry that
   * commits while a write is in flight waits for that write and the next.
   * Not when the ready changes term or vote (the commit persist carries the
   * durable ones) or carries a snapshot; stops before a membership change.
   */
  #commitAhead(ready: Ready, effects: NodeEffect<R>[]): CommitAhead | undefined {
    if (ready.entries.length === 0 || ready.snapshot || ready.committedEntries.length === 0) {
      return undefined;
    }
    const durable = this.#storage.initialState().hardState;
    const next = ready.hardState;
    if (next !== undefined && (next.term !== durable.term || next.vote !== durable.vote)) {
      return undefined;
    }
    // Durable as they are: in the stored log and not about to be overwritten by
    // this ready's entries (a follower's log may be truncated and replaced there).
    const unsafe = this.#config.testingBugs?.commitAheadBeforeDurable === true;
    const lastDurable = unsafe
      ? Number.POSITIVE_INFINITY
      : Math.min(this.#storage.lastIndex(), ready.entries[0].index - 1);
    const committed = ready.committedEntries;
    let count = 0;
    while (
      count < committed.length && committed[count].index <= lastDurable &&
      committed[count].type === "normal" &&
      (unsafe || this.#storage.term(committed[count].index) === committed[count].term)
    ) count++;
    if (count === 0) return undefined;
    const entries = committed.slice(0, count);
    ready.committedEntries = committed.slice(count);
    const hardState: HardState = {
      term: durable.term,
      vote: durable.vote,
      commit: Math.max(durable.commit, entries[count - 1].index),
    };
    const persistId = this.#nextPersistId++;
    effects.push({ type: "persist", persistId, hardState, entries: [], mustSync: false });
    return { persistId, hardState, entries, done: false };
  }

  /** The commit persist of `#commitAhead` is durable: apply what it covers. */
  #appliedAhead(ahead: CommitAhead, effects: NodeEffect<R>[]): void {
    ahead.done = true;
    this.#storage.setHardState(ahead.hardState);
    this.#apply(ahead.entries, effects);
    this.#serveReads(effects);
  }

  #persisted(persistId: number, effects: NodeEffect<R>[]): void {
    const inflight = this.#inflight;
    const ahead = inflight?.ahead;
    if (ahead !== undefined && !ahead.done && ahead.persistId === persistId) {
      this.#appliedAhead(ahead, effects);
      return;
    }
    if (inflight === undefined || inflight.persistId !== persistId) {
      throw new Error(
        `node ${this.id}: persisted ${persistId} but ${
          inflight?.persistId ?? "nothing"
        } is in flight`,
      );
    }
    this.#inflight = undefined;
    // Writes complete in order: the commit persist, issued first, is durable too.
    if (ahead !== undefined && !ahead.done) this.#appliedAhead(ahead, effects);
    const { ready } = inflight;
    if (ready.snapshot) this.#storage.applySnapshot(ready.snapshot);
    if (ready.entries.length > 0) this.#storage.append(ready.entries);
    const termChanged = ready.hardState !== undefined &&
      ready.hardState.term !== this.#durableTerm;
    if (ready.hardState) {
      this.#storage.setHardState(ready.hardState);
      this.#durableTerm = ready.hardState.term;
    }
    this.#finish(ready, effects, termChanged);
  }

  /** Everything a ready asks for once its writes are durable, then `advance()`. */
  #finish(ready: Ready, effects: NodeEffect<R>[], termChanged = false): void {
    const leaderChanged = ready.softState !== undefined &&
      ready.softState.lead !== this.#soft.lead;
    // Leadership is taken on (and shown) only once the term it belongs to is durable.
    if (ready.softState) this.#softStateChanged(ready.softState, effects);
    if (ready.messages.length > 0) effects.push({ type: "send", messages: ready.messages });
    if (ready.snapshot) {
      const { index, term, confState } = ready.snapshot.metadata;
      this.#sm.restore(ready.snapshot.data);
      // A snapshot received from the leader is past this node's commit index,
      // so past any snapshot it is still encoding.
      this.#encoding = undefined;
      this.#applied = index;
      this.#snapshotIndex = index;
      this.#confState = confState;
      effects.push({ type: "snapshotInstalled", index, term });
    }
    if (ready.committedEntries.length > 0) this.#apply(ready.committedEntries, effects);
    for (const rs of ready.readStates) {
      const seq = new DataView(rs.requestCtx.buffer, rs.requestCtx.byteOffset).getFloat64(0, true);
      const read = this.#pendingReads.get(seq);
      if (read) read.index = rs.index;
    }
    this.#serveReads(effects);
    // Commands still waiting were proposed in an earlier term, or forwarded to
    // a leader this node no longer follows: nobody will report on them. (A
    // deposed leader already failed its own in #softStateChanged.)
    if (termChanged || (leaderChanged && this.#soft.role !== "leader")) {
      this.#failPendingCommands(effects);
    }
    this.#raft.advance();
    this.#maybeSnapshot(effects);
  }

  #apply(entries: Entry[], effects: NodeEffect<R>[]): void {
    const applied: Entry[] = [];
    for (const entry of entries) {
      if (entry.index <= this.#applied) continue;
      if (entry.index !== this.#applied + 1) {
        throw new Error(`node ${this.id}: applying ${entry.index} after ${this.#applied}`);
      }
      this.#applied = entry.index;
      applied.push(entry);
      if (entry.type === "confChange") {
        const cc = decodeConfChange(entry.data);
        this.#confState = this.#raft.applyConfChange(cc);
        const requestId = isEnvelope(cc.context)
          ? this.#ownRequest(decodeEnvelope(cc.context))
          : undefined;
        if (requestId !== undefined) {
          const reply: NodeReply<R> = { ok: true, confState: this.#confState, index: entry.index };
          effects.push({ type: "reply", requestId, reply });
        }
        continue;
      }
      if (entry.data.length === 0) continue;
      const envelope = decodeEnvelope(entry.data);
      const value = this.#sm.apply(envelope.command, entry.index);
      const requestId = this.#ownRequest(envelope);
      if (requestId === undefined) continue;
      const reply: NodeReply<R> = { ok: true, value, index: entry.index };
      effects.push({ type: "reply", requestId, reply });
    }
    if (applied.length > 0) effects.push({ type: "applied", entries: applied });
  }

  /** The pending request an envelope belongs to, if this incarnation proposed it (and forgets it). */
  #ownRequest(envelope: Envelope): number | undefined {
    if (envelope.originNonce !== this.#nonce) return undefined;
    const requestId = this.#pendingCommands.get(envelope.proposalSeq);
    if (requestId !== undefined) this.#pendingCommands.delete(envelope.proposalSeq);
    return requestId;
  }

  #serveReads(effects: NodeEffect<R>[]): void {
    for (const [seq, read] of this.#pendingReads) {
      if (read.index < 0 || read.index > this.#applied) continue;
      this.#pendingReads.delete(seq);
      effects.push({
        type: "reply",
        requestId: read.requestId,
        reply: { ok: true, value: this.#sm.read(read.query), index: this.#applied },
      });
    }
  }

  #softStateChanged(soft: SoftState, effects: NodeEffect<R>[]): void {
    const wasLeader = this.#soft.role === "leader";
    this.#soft = soft;
    effects.push({ type: "roleChanged", role: soft.role, leader: soft.lead, term: this.#term });
    if (!wasLeader || soft.role === "leader") return;
    // Nobody awaits their outcome: a new leader sends its own snapshots.
    this.#snapshotSender.clear();
    // A deposed leader cannot tell whether its proposals will commit under
    // the next leader: their outcome is unknown. Its reads simply never ran.
    this.#failPendingCommands(effects);
    for (const read of this.#pendingReads.values()) {
      this.#fail(
        read.requestId,
        { code: "LeadershipLost", term: this.#term, outcomeUnknown: false },
        effects,
      );
    }
    this.#pendingReads.clear();
  }

  /** Fails every waiting command: whether it will commit is unknown. */
  #failPendingCommands(effects: NodeEffect<R>[]): void {
    for (const requestId of this.#pendingCommands.values()) {
      this.#fail(
        requestId,
        { code: "LeadershipLost", term: this.#term, outcomeUnknown: true },
        effects,
      );
    }
    this.#pendingCommands.clear();
  }

  #maybeSnapshot(effects: NodeEffect<R>[]): void {
    const every = this.#config.snapshotEveryEntries;
    if (this.#encoding !== undefined) return;
    if (every <= 0 || this.#applied < this.#nextSnapshotIndex(every)) return;
    // Applied entries are committed, hence durable: they are in the stable log.
    const index = this.#applied;
    if (index > this.#storage.lastIndex()) {
      throw new Error(
        `node ${this.id}: applied ${index} is beyond the stable log (${this.#storage.lastIndex()})`,
      );
    }
    if (index < this.#storage.firstIndex()) return;
    const steps = this.#sm.snapshotSteps?.();
    if (steps === undefined) {
      this.#takeSnapshot(index, this.#confState, this.#sm.snapshot(), effects);
      return;
    }
    // Encoded a bounded step per tick (#encodeSnapshotStep): the whole state at
    // once stalled the node for a few hundred ms at 16 MB. The log is compacted
    // only once the bytes are complete.
    this.#encoding = { index, confState: this.#confState, steps };
  }

  /** Advances the snapshot being encoded; takes it once complete. */
  #encodeSnapshotStep(effects: NodeEffect<R>[]): void {
    const encoding = this.#encoding;
    if (encoding === undefined) return;
    const data = encoding.steps.step(SNAPSHOT_ITEMS_PER_TICK);
    if (data === undefined) return;
    this.#encoding = undefined;
    this.#takeSnapshot(encoding.index, encoding.confState, data, effects);
  }

  #takeSnapshot(
    index: number,
    confState: ConfState,
    data: Uint8Array,
    effects: NodeEffect<R>[],
  ): void {
    const snapshot = this.#storage.createSnapshot(index, confState, data);
    // The newest entries it covers stay: a follower a little behind (a dropped
    // append, a stall) then catches up with appends, not with the whole state.
    const keep = Math.floor(this.#config.snapshotEveryEntries / SNAPSHOT_CATCH_UP_FRACTION);
    if (index - keep >= this.#storage.firstIndex()) this.#storage.compact(index - keep);
    this.#snapshotIndex = index;
    effects.push({ type: "snapshotTaken", snapshot });
  }

  /**
   * Applied index from which this node takes its next snapshot: the first one
   * past its last snapshot at this node's phase of the `every`-entry cycle.
   * Voters get phases spread evenly over the cycle by rank of id: encoding a
   * snapshot stalls a node for a while, and when every voter did it at the same
   * index (they apply in step), commits stopped and the leader lost its quorum.
   */
  #nextSnapshotIndex(every: number): number {
    const voters = this.#confState.voters;
    const rank = voters.includes(this.id) ? voters.filter((v) => v < this.id).length : 0;
    const phase = Math.floor(rank * every / Math.max(1, voters.length));
    return phase + (Math.floor((this.#snapshotIndex - phase) / every) + 1) * every;
  }
}
