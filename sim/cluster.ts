/**
 * The simulated cluster: one process per node, each with its own disk, all
 * joined by the simulated network and driven by one scheduler. A process
 * runs the production {@link ClusterNode}; this file is only a driver that
 * executes the node's effects against simulated I/O and feeds back events,
 * plus the fault hooks (crash, restart, pause, clock drift) and the safety
 * checker's observations after every event.
 *
 * @module
 */

import type { SeededRng } from "@safla/core";
import {
  type Config as RaftConfig,
  emptyConfState,
  type JointConfig,
  type MemoryStorage,
  type Message,
  type NodeId,
  type Raft,
  type Snapshot,
  type TestingBugs,
} from "@safla/core/raft";
import {
  ClusterNode,
  type NodeEffect,
  type NodeEvent,
  type NodeReply,
  type RaftCore,
  type RecoveredState,
  recoverStorage,
  RecoveryMismatchError,
  type StateMachine,
  walRecordsForPersist,
} from "@safla/core/node";
import { encodeRecords, replayWal, WalCorruptionError, type WalState } from "@safla/core/wal";
import {
  decodeSnapshotFile,
  encodeSnapshotFile,
  SnapshotCorruptionError,
} from "@safla/transports/wal";
import {
  hashEntryData,
  type LogView,
  RaftSafetyChecker,
  type Violation,
} from "./checkers/raft_safety.ts";
import { type DurableLog, StateProgressChecker } from "./checkers/state_progress.ts";
import { SimDisk } from "./disk.ts";
import { SimNetwork } from "./network.ts";
import type { Scheduler } from "./scheduler.ts";
import type { SwarmConfig } from "./swarm.ts";
import type { Trace } from "./trace.ts";

/** A Raft core plus the one-time bootstrap of a brand-new cluster. */
export interface BootstrappableRaft extends RaftCore {
  /** Writes the initial configuration of a new cluster into the log. */
  bootstrap(peers: readonly NodeId[]): void;
  /** The Raft state machine inside, when there is one (the durable-quorum check reads it). */
  readonly raft?: Raft;
}

/** How the cluster builds what it runs. */
export interface ClusterParts<Q, R> {
  /** Builds a Raft core. */
  createRaft(config: RaftConfig): BootstrappableRaft;
  /** Builds an empty state machine. */
  createStateMachine(): StateMachine<Q, R>;
}

/** Driver-level bugs the simulator can inject (the node itself stays correct). */
export interface DriverBugs {
  /** The disk acknowledges writes before they are durable. */
  acksBeforeSync?: boolean;
  /** The driver writes the hard state without the vote. */
  dropsVoteOnPersist?: boolean;
}

/** Where a process stands. */
export type ProcessStatus = "up" | "down" | "paused" | "refused";

/** The durable file names of a node's disk. */
const WAL_FILE = "wal";
const snapshotFile = (index: number): string => `snap-${String(index).padStart(12, "0")}`;
/** Events a paused process buffers (socket buffers are finite). */
const MAX_PAUSED_EVENTS = 10_000;

/** One simulated process: a node, its disk, and its clock. */
export class SimProcess<Q, R> {
  readonly id: NodeId;
  readonly disk: SimDisk;
  status: ProcessStatus = "down";
  node: ClusterNode<Q, R> | undefined;
  /** The state machine of the running node (for observers such as watchers). */
  stateMachine: StateMachine<Q, R> | undefined;
  /** Bumped at every crash: callbacks of an older incarnation are ignored. */
  incarnation = 0;
  /** This node's clock runs at `1 + drift` times real speed. */
  drift = 0;
  /** Why the process refused to start, if it did. */
  refusal: string | undefined;
  readonly pausedEvents: Array<NodeEvent<Q>> = [];
  readonly persists = new Map<number, { entriesFrom?: number; snapshotIndex?: number }>();
  /**
   * Highest snapshot marker issued to the WAL. A snapshot taken locally is
   * marked only once its file is durable, by which time a newer snapshot
   * from the leader may have been marked: markers must never go backwards.
   */
  markerIndex = 0;
  /** Highest durable commit index observed in this incarnation. */
  durableCommit = 0;
  /** The Raft core of the running (or last) incarnation. */
  raft: BootstrappableRaft | undefined;
  /** What the last incarnation's node reported durable; kept across a crash. */
  durableStorage: MemoryStorage | undefined;
  /** Highest in-memory commit index of this incarnation checked against a durable quorum. */
  checkedCommit = 0;
  /** Term of the leadership `checkedCommit` belongs to. */
  checkedTerm = 0;

  /** A stopped process with an empty disk. */
  constructor(id: NodeId, disk: SimDisk) {
    this.id = id;
    this.disk = disk;
  }
}

/** Observers the simulation hooks into. */
export interface ClusterObserver<R> {
  /** A reply left a node for request `requestId`. */
  onReply(node: NodeId, requestId: number, reply: NodeReply<R>): void;
}

/**
 * The cluster.
 *
 * @example
 * ```ts ignore
 * const cluster = new SimCluster(scheduler, rng, config, parts, trace, observer, {});
 * cluster.bootstrap();
 * ```
 */
export class SimCluster<Q, R> {
  readonly ids: NodeId[];
  /** The members that bootstrap the cluster; the other ids are spares that join later. */
  readonly initialVoters: NodeId[];
  readonly processes = new Map<NodeId, SimProcess<Q, R>>();
  readonly network: SimNetwork<Message>;
  readonly checker = new RaftSafetyChecker();
  /** Durable state kept across restarts; the simulation feeds it applied states too. */
  readonly progress = new StateProgressChecker();
  readonly violations: Violation[] = [];
  readonly #scheduler: Scheduler;
  readonly #rng: SeededRng;
  readonly #config: SwarmConfig;
  readonly #parts: ClusterParts<Q, R>;
  readonly #trace: Trace;
  readonly #observer: ClusterObserver<R>;
  readonly #bugs: DriverBugs;
  readonly #raftBugs: TestingBugs;
  #eventIndex = 0;
  /** Events handled by nodes. */
  nodeEvents = 0;
  /** Told when a node takes on a role (the nemesis aims some faults at new leaders). */
  onRoleChanged: ((id: NodeId, role: string, term: number) => void) | undefined;
  /** Told after every observation of a node (state checkers read its state machine then). */
  onObserved: ((p: SimProcess<Q, R>) => void) | undefined;
  /** Told when a leader's durable commit index advances (the nemesis may crash it then). */
  onLeaderCommitted: ((id: NodeId, term: number) => void) | undefined;

  /** Builds the processes (all down) and the network. */
  constructor(
    scheduler: Scheduler,
    rng: SeededRng,
    config: SwarmConfig,
    parts: ClusterParts<Q, R>,
    trace: Trace,
    observer: ClusterObserver<R>,
    bugs: DriverBugs & { raft?: TestingBugs },
  ) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#config = config;
    this.#parts = parts;
    this.#trace = trace;
    this.#observer = observer;
    this.#bugs = bugs;
    this.#raftBugs = bugs.raft ?? {};
    const spares = config.membership?.spareNodes ?? 0;
    this.ids = Array.from({ length: config.nodeCount + spares }, (_, i) => `n${i + 1}`);
    this.initialVoters = this.ids.slice(0, config.nodeCount);
    this.network = new SimNetwork<Message>(
      scheduler,
      rng.fork(),
      config.network,
      messageSizeBytes,
      (_from, to, m) => this.deliver(to, { type: "message", message: m }),
    );
    for (const id of this.ids) {
      const disk = new SimDisk(scheduler, rng.fork(), {
        ...config.disk,
        acksBeforeSync: bugs.acksBeforeSync ?? false,
      });
      this.processes.set(id, new SimProcess<Q, R>(id, disk));
    }
  }

  /** Starts every node of a new cluster. */
  bootstrap(): void {
    for (const id of this.ids) this.#start(this.processes.get(id)!, true);
  }

  /** The process of `id`. */
  process(id: NodeId): SimProcess<Q, R> {
    const p = this.processes.get(id);
    if (!p) throw new RangeError(`no node ${id}`);
    return p;
  }

  /** Hands an event to a node (buffered while paused, dropped while down). */
  deliver(id: NodeId, event: NodeEvent<Q>): void {
    const p = this.process(id);
    if (p.status === "paused") {
      if (p.pausedEvents.length < MAX_PAUSED_EVENTS) p.pausedEvents.push(event);
      return;
    }
    if (p.status !== "up" || !p.node) return;
    this.#handle(p, event);
  }

  /** Kills a process: volatile disk state is lost, the node object is dropped. */
  crash(id: NodeId): void {
    const p = this.process(id);
    if (p.status === "down" || p.status === "refused") return;
    p.status = "down";
    p.node = undefined;
    p.stateMachine = undefined;
    p.incarnation++;
    p.pausedEvents.length = 0;
    p.persists.clear();
    p.disk.crash();
    this.#trace.record(this.#scheduler.nowUs, id, "crash", `incarnation ${p.incarnation}`);
  }

  /** Restarts a crashed process from its disk. */
  restart(id: NodeId): void {
    const p = this.process(id);
    if (p.status !== "down") return;
    this.#start(p, false);
  }

  /** Flips a bit in a down node's disk; true if something was corrupted. */
  corruptDisk(id: NodeId): boolean {
    const p = this.process(id);
    if (p.status !== "down") return false;
    const hit = p.disk.corrupt(WAL_FILE);
    if (hit) this.#trace.record(this.#scheduler.nowUs, id, "corrupt", WAL_FILE);
    return hit;
  }

  /** Freezes a process: no ticks, events buffered. */
  pause(id: NodeId): void {
    const p = this.process(id);
    if (p.status !== "up") return;
    p.status = "paused";
    this.#trace.record(this.#scheduler.nowUs, id, "pause", "");
  }

  /** Unfreezes a process and replays what it buffered. */
  resume(id: NodeId): void {
    const p = this.process(id);
    if (p.status !== "paused") return;
    p.status = "up";
    this.#trace.record(this.#scheduler.nowUs, id, "resume", `${p.pausedEvents.length} buffered`);
    const buffered = p.pausedEvents.splice(0);
    const incarnation = p.incarnation;
    for (const event of buffered) {
      if (p.status !== "up" || p.incarnation !== incarnation) break;
      this.#handle(p, event);
    }
  }

  /** Sets a node's clock drift (relative tick-rate error). */
  setDrift(id: NodeId, drift: number): void {
    this.process(id).drift = drift;
  }

  #start(p: SimProcess<Q, R>, firstBoot: boolean): void {
    const rng = this.#rng.fork();
    let wal: WalState;
    let snapshot: Snapshot | undefined;
    try {
      wal = replayWal([p.disk.read(WAL_FILE)]);
      if (wal.tornTail) p.disk.truncate(WAL_FILE, wal.validBytesInLastSegment);
      if (wal.snapshot.index > 0) {
        const name = snapshotFile(wal.snapshot.index);
        snapshot = decodeSnapshotFile(name, p.disk.read(name));
      }
    } catch (error) {
      if (!(error instanceof WalCorruptionError) && !(error instanceof SnapshotCorruptionError)) {
        throw error;
      }
      p.status = "refused";
      p.refusal = error.message;
      this.#trace.record(this.#scheduler.nowUs, p.id, "refuseStart", error.message);
      return;
    }
    let recovered: RecoveredState;
    try {
      recovered = recoverStorage(wal, snapshot);
    } catch (error) {
      if (!(error instanceof RecoveryMismatchError)) throw error;
      p.status = "refused";
      p.refusal = error.message;
      this.#trace.record(this.#scheduler.nowUs, p.id, "refuseStart", error.message);
      return;
    }
    const sm = this.#parts.createStateMachine();
    if (recovered.snapshot) sm.restore(recovered.snapshot.data);
    const c = this.#config;
    const raft = this.#parts.createRaft({
      id: p.id,
      electionTicks: c.electionTicks,
      heartbeatTicks: c.heartbeatTicks,
      storage: recovered.storage,
      rng: rng.fork(),
      applied: recovered.appliedIndex,
      maxSizePerMsgBytes: c.maxSizePerMsgBytes,
      maxInflightMsgs: c.maxInflightMsgs,
      checkQuorum: c.checkQuorum,
      preVote: c.preVote,
      readOnlyOption: c.readOnlyOption ?? "safe",
      // As the host runs it: the leader's appends leave before its own fsync.
      asyncLeaderAppend: true,
      testingBugs: this.#raftBugs,
    });
    // A node that never made its bootstrap durable starts over as a new member.
    const empty = wal.hardState.term === 0 && recovered.storage.lastIndex() === 0;
    // A spare starts empty and waits to be added, like a production node started with --join.
    if (empty && this.initialVoters.includes(p.id)) raft.bootstrap(this.initialVoters);
    p.node = new ClusterNode<Q, R>({
      id: p.id,
      raft,
      storage: recovered.storage,
      stateMachine: sm,
      appliedIndex: recovered.appliedIndex,
      confState: recovered.snapshot?.metadata.confState ?? emptyConfState(),
      rng,
      snapshotEveryEntries: c.snapshotEveryEntries,
      maxPendingRequests: 10_000,
      forwardProposals: true,
      snapshotTransfer: c.snapshotTransfer,
      testingBugs: this.#raftBugs,
    });
    p.stateMachine = sm;
    p.raft = raft;
    if (!firstBoot && p.durableStorage !== undefined) {
      const problems = this.progress.restarted(
        durableLog(p.durableStorage),
        durableLog(recovered.storage),
      );
      for (const detail of problems) {
        this.report({ rule: "durableStateLost", nodeId: p.id, detail });
      }
    }
    p.durableStorage = recovered.storage;
    p.checkedCommit = 0;
    p.checkedTerm = 0;
    p.markerIndex = wal.snapshot.index;
    p.durableCommit = wal.hardState.commit;
    p.status = "up";
    this.checker.restarted(p.id, {
      hardState: wal.hardState,
      snapshotIndex: recovered.appliedIndex,
    });
    this.#trace.record(
      this.#scheduler.nowUs,
      p.id,
      firstBoot ? "boot" : "restart",
      `term ${wal.hardState.term} commit ${wal.hardState.commit} snap ${wal.snapshot.index}` +
        ` last ${recovered.storage.lastIndex()}${wal.tornTail ? " tornTail" : ""}`,
    );
    this.#scheduleTick(p, p.incarnation);
    // Bootstrap may have produced work (the initial configuration) to persist.
    this.#handle(p, { type: "tick" });
  }

  #scheduleTick(p: SimProcess<Q, R>, incarnation: number): void {
    const periodUs = this.#config.tickUs / (1 + p.drift);
    this.#scheduler.after(periodUs, () => {
      if (p.incarnation !== incarnation || p.status === "down" || p.status === "refused") return;
      if (p.status === "up") this.#handle(p, { type: "tick" });
      this.#scheduleTick(p, incarnation);
    });
  }

  #handle(p: SimProcess<Q, R>, event: NodeEvent<Q>): void {
    const node = p.node!;
    this.nodeEvents++;
    this.#eventIndex++;
    this.#traceEvent(p.id, event);
    // A commit that advances in this event was counted under the configuration in force
    // before it, or under the one a conf change applied in it switched to (etcd raft recounts
    // after a switch): the durable-quorum check accepts either.
    const votersBefore = p.raft?.raft?.trk.config.voters;
    const commitBefore = p.raft?.raft?.raftLog.committed ?? 0;
    const effects = node.handle(event);
    let writtenFrom: number | undefined;
    let snapshotIndex: number | undefined;
    if (event.type === "persisted") {
      const done = p.persists.get(event.persistId);
      p.persists.delete(event.persistId);
      writtenFrom = done?.entriesFrom;
      snapshotIndex = done?.snapshotIndex;
      if (snapshotIndex !== undefined) {
        writtenFrom = Math.min(writtenFrom ?? Infinity, snapshotIndex);
      }
    }
    const newlyApplied: Array<{ index: number; term: number; dataHash: number }> = [];
    let installed: number | undefined;
    for (const effect of effects) {
      if (effect.type === "applied") {
        for (const e of effect.entries) {
          newlyApplied.push({ index: e.index, term: e.term, dataHash: dataHashOf(e.data) });
        }
      } else if (effect.type === "snapshotInstalled") {
        installed = effect.index;
      }
      this.#execute(p, effect);
    }
    // What the checker sees (durable state, role, applied index) only changes on a
    // `persisted` event or together with some effect: quiet ticks need no observation.
    if (effects.length > 0 || event.type === "persisted") {
      this.#observe(p, node, newlyApplied, installed, writtenFrom);
    }
    this.#checkCommitDurable(p, votersBefore, commitBefore);
  }

  #traceEvent(id: NodeId, event: NodeEvent<Q>): void {
    const now = this.#scheduler.nowUs;
    switch (event.type) {
      case "tick":
        return;
      case "message": {
        const m = event.message;
        const fields = MESSAGE_FIELDS;
        fields[0] = m.term;
        fields[1] = m.index;
        fields[2] = m.logTerm;
        fields[3] = m.commit;
        fields[4] = m.entries.length;
        fields[5] = m.reject ? 1 : 0;
        this.#trace.recordFields(now, id, m.type, m.from, fields, event, describe);
        return;
      }
      case "persisted":
        ONE_FIELD[0] = event.persistId;
        this.#trace.recordFields(now, id, "persisted", "", ONE_FIELD, event, describe);
        return;
      default:
        this.#trace.record(now, id, event.type, describe(event));
    }
  }

  /**
   * A leader's commit index (in memory, before any message carries it) names
   * an entry a quorum of the configuration it was committed under already
   * holds on disk, as far as each node reported its writes durable (a crashed
   * node: its last incarnation). Catches a leader that counts what is not yet
   * durable even when the node's pipeline keeps the early commit from being
   * seen. Judged against the configuration the index was committed under.
   */
  #checkCommitDurable(
    p: SimProcess<Q, R>,
    votersBefore: JointConfig | undefined,
    commitBefore: number,
  ): void {
    const r = p.raft?.raft;
    if (r === undefined || r.role !== "leader") return;
    const commit = r.raftLog.committed;
    if (p.checkedTerm !== r.term) {
      // What a new leader learned as a follower may have been committed under an older
      // configuration (before a removal); its predecessor was judged for it.
      p.checkedTerm = r.term;
      p.checkedCommit = Math.max(p.checkedCommit, commitBefore);
    }
    if (commit <= p.checkedCommit) return;
    p.checkedCommit = commit;
    const term = r.raftLog.termOrUndefined(commit);
    if (term === undefined) return;
    const holds = (id: NodeId): number => {
      const storage = this.processes.get(id)?.durableStorage;
      if (storage === undefined) return 0;
      const first = storage.firstIndex();
      if (commit < first) return commit;
      if (commit > storage.lastIndex()) return 0;
      return storage.term(commit) === term ? commit : 0;
    };
    // Counted here, not by the quorum code under test: a broken majority or joint rule
    // would otherwise vouch for itself.
    const durableOn = (voters: JointConfig): boolean =>
      [voters.incoming.ids, voters.outgoing.ids].every((half) => {
        let holding = 0;
        for (const id of half) if (holds(id) >= commit) holding++;
        return half.size === 0 || holding > half.size / 2;
      });
    if (durableOn(r.trk.config.voters)) return;
    if (votersBefore !== undefined && durableOn(votersBefore)) return;
    const v: Violation = {
      rule: "commitNotDurableOnQuorum",
      nodeId: p.id,
      detail: `leader commit index ${commit} (term ${term}) is on disk on no quorum`,
    };
    this.violations.push(v);
    this.#trace.record(this.#scheduler.nowUs, p.id, "VIOLATION", `${v.rule}: ${v.detail}`);
  }

  #observe(
    p: SimProcess<Q, R>,
    node: ClusterNode<Q, R>,
    newlyApplied: Array<{ index: number; term: number; dataHash: number }>,
    appliedSnapshotIndex: number | undefined,
    writtenFrom: number | undefined,
  ): void {
    const storage = node.storage;
    const hs = storage.initialState().hardState;
    const soft = node.softState;
    if (hs.commit > p.durableCommit) {
      p.durableCommit = hs.commit;
      if (soft.role === "leader") this.onLeaderCommitted?.(p.id, hs.term);
    }
    const found = this.checker.observe(p.id, {
      term: hs.term,
      vote: hs.vote,
      role: soft.role,
      lead: soft.lead,
      commitIndex: hs.commit,
      appliedIndex: node.appliedIndex,
      log: storageLogView(storage),
      newlyApplied,
      appliedSnapshotIndex,
      writtenFrom,
    }, this.#eventIndex);
    for (const v of found) this.report(v);
    this.onObserved?.(p);
  }

  /** Records a violation found by a checker (and in the trace). */
  report(v: Violation): void {
    this.violations.push(v);
    this.#trace.record(this.#scheduler.nowUs, v.nodeId, "VIOLATION", `${v.rule}: ${v.detail}`);
  }

  #execute(p: SimProcess<Q, R>, effect: NodeEffect<R>): void {
    const now = this.#scheduler.nowUs;
    switch (effect.type) {
      case "persist": {
        const incarnation = p.incarnation;
        let hardState = effect.hardState;
        if (hardState && this.#bugs.dropsVoteOnPersist) hardState = { ...hardState, vote: null };
        if (effect.snapshot) {
          const index = effect.snapshot.metadata.index;
          p.disk.replace(snapshotFile(index), encodeSnapshotFile(effect.snapshot), () => {});
          p.markerIndex = Math.max(p.markerIndex, index);
        }
        const bytes = encodeRecords(
          walRecordsForPersist(hardState, effect.entries, effect.snapshot),
        );
        p.persists.set(effect.persistId, {
          entriesFrom: effect.entries[0]?.index,
          snapshotIndex: effect.snapshot?.metadata.index,
        });
        p.disk.append(WAL_FILE, bytes, effect.mustSync, () => {
          if (p.incarnation !== incarnation) return;
          this.deliver(p.id, { type: "persisted", persistId: effect.persistId });
        });
        return;
      }
      case "send":
        for (const m of effect.messages) this.network.send(p.id, m.to, m);
        return;
      case "reply": {
        const reply = effect.reply;
        TWO_FIELDS[0] = effect.requestId;
        TWO_FIELDS[1] = reply.ok ? reply.index : 0;
        this.#trace.recordFields(
          now,
          p.id,
          "reply",
          reply.ok ? "ok" : reply.error.code,
          TWO_FIELDS,
          effect,
          describeReply,
        );
        this.#observer.onReply(p.id, effect.requestId, reply);
        return;
      }
      case "snapshotTaken": {
        const { index, term } = effect.snapshot.metadata;
        const incarnation = p.incarnation;
        this.#trace.record(now, p.id, "snapshotTaken", `index ${index}`);
        p.disk.replace(snapshotFile(index), encodeSnapshotFile(effect.snapshot), () => {
          if (p.incarnation !== incarnation || index <= p.markerIndex) return;
          p.markerIndex = index;
          const marker = encodeRecords([{ kind: "snapshot", index, term }]);
          p.disk.append(WAL_FILE, marker, true, () => {
            if (p.incarnation !== incarnation) return;
            for (const name of p.disk.files()) {
              if (name.startsWith("snap-") && name < snapshotFile(index)) p.disk.remove(name);
            }
          });
        });
        return;
      }
      case "roleChanged":
        this.#trace.record(
          now,
          p.id,
          "role",
          `${effect.role} lead ${effect.leader} t${effect.term}`,
        );
        this.onRoleChanged?.(p.id, effect.role, effect.term);
        return;
      case "snapshotInstalled":
        this.#trace.record(
          this.#scheduler.nowUs,
          p.id,
          "snapshotInstalled",
          `index ${effect.index}`,
        );
        return;
      case "applied":
        return;
    }
  }
}

/**
 * Entry payloads travel between simulated nodes by reference and are never
 * changed: each array is hashed once, not once per node that commits and
 * applies it (WAL replay makes new arrays, which are hashed afresh).
 */
const dataHashes = new WeakMap<Uint8Array, number>();

function dataHashOf(data: Uint8Array): number {
  let hash = dataHashes.get(data);
  if (hash === undefined) {
    hash = hashEntryData(data);
    dataHashes.set(data, hash);
  }
  return hash;
}

function durableLog(storage: MemoryStorage): DurableLog {
  const hs = storage.initialState().hardState;
  return {
    term: hs.term,
    vote: hs.vote,
    firstIndex: storage.firstIndex(),
    lastIndex: storage.lastIndex(),
    termAt: (index) => storage.term(index),
  };
}

function storageLogView(storage: MemoryStorage): LogView {
  return {
    firstIndex: storage.firstIndex(),
    lastIndex: storage.lastIndex(),
    term(index: number): number | undefined {
      if (index < storage.firstIndex() - 1 || index > storage.lastIndex()) return undefined;
      return storage.term(index);
    },
    dataHash(index: number): number | undefined {
      if (index < storage.firstIndex() || index > storage.lastIndex()) return undefined;
      return dataHashOf(storage.entries(index, index + 1, Infinity)[0].data);
    },
  };
}

/** Wire size estimate of a Raft message. */
export function messageSizeBytes(m: Message): number {
  let size = 64;
  for (const e of m.entries) size += 24 + e.data.length;
  if (m.snapshot) size += m.snapshot.data.length + 64;
  return size;
}

/** Scratch arrays for {@link Trace.recordFields}, which reads them at once. */
const MESSAGE_FIELDS = [0, 0, 0, 0, 0, 0];
const TWO_FIELDS = [0, 0];
const ONE_FIELD = [0];

function describeReply<R>(effect: { requestId: number; reply: NodeReply<R> }): string {
  const reply = effect.reply;
  return `#${effect.requestId} ` + (reply.ok ? `ok at ${reply.index}` : `${reply.error.code}`);
}

function describe<Q>(event: NodeEvent<Q>): string {
  switch (event.type) {
    case "message": {
      const m = event.message;
      return `${m.type} ${m.from}->${m.to} t${m.term} i${m.index} lt${m.logTerm} c${m.commit}` +
        ` n${m.entries.length}${m.reject ? " reject" : ""}`;
    }
    case "request":
      return `#${event.requestId} ${event.request.kind}`;
    case "persisted":
      return `#${event.persistId}`;
    case "cancel":
      return `#${event.requestId}`;
    case "unreachable":
      return event.peer;
    case "transferLeader":
      return event.to;
    default:
      return "";
  }
}
