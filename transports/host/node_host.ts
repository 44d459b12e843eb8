/**
 * The real driver of a cluster node: the production {@link ClusterNode} (the
 * same code the simulator runs) on a wall clock, a real disk and TCP peers.
 *
 * - Time: a timer feeds one `tick` event every `tickMs`, except the first
 *   firing after the loop was held for over a period ({@link TickPacer}).
 * - Disk: `persist` effects go to the {@link FileWal} (and {@link SnapshotFiles}
 *   when they carry a snapshot), one fdatasync per persist. The node keeps
 *   one persist in flight and batches everything that arrives meanwhile into
 *   the next, so this is group commit: many proposals, one fsync. The
 *   `persisted` event is fed back only once the write is durable, and the
 *   node releases nothing that depends on it (messages, replies) before.
 * - Network: `send` effects go to the {@link PeerTransport}; arriving
 *   messages are fed back as events.
 * - Leases: this node's {@link Lessor} proposes expiries while it leads.
 *
 * Events are handled one at a time, in arrival order, from a bounded queue.
 *
 * @module
 */
import {
  type AutoCompactor,
  ClusterNode,
  type ConfChangeSingle,
  ConfigError,
  decodeConfChange,
  decodeEnvelope,
  emptyConfState,
  encodeCommand,
  type Entry,
  type HardState,
  type KvQuery,
  KvStateMachine,
  type KvStore,
  Lessor,
  type NodeEffect,
  type NodeError,
  type NodeEvent,
  type NodeId,
  type NodeReply,
  RawNode,
  recoverStorage,
  SeededRng,
  type SnapshotSteps,
  type SnapshotTransferConfig,
  type StateMachine,
  withDefaults,
} from "@safla/core";
import type { ClientRequest } from "@safla/core/node";
import type { CommandResult } from "@safla/core/state";
import { FileWal } from "../wal/file_wal.ts";
import { SnapshotFiles } from "../wal/snapshot_files.ts";
import {
  DEFAULT_MAX_FRAME_BYTES,
  type InboundStats,
  type PeerEvent,
  type PeerLinkStats,
  PeerTransport,
} from "../peer/peer_transport.ts";
import type { PeerTls } from "../peer/peer_tls.ts";
import { type MemberAddress, MemberDirectory, validateMemberAddress } from "./member_directory.ts";
import { checkQuorumTicks, type HostTiming, TickPacer } from "./timing.ts";
import { forceNewClusterLog } from "./force_new_cluster.ts";
import { type HostTunables, newAutoCompactor, resolveHostOptions } from "./host_options.ts";

/** A released snapshot's bytes, read back from its file (undefined while reading). */
interface SnapshotReadBack {
  index: number;
  term: number;
  data: Uint8Array | undefined;
}

/** Options of {@link NodeHost.open}. */
export interface NodeHostOptions {
  /** This node's id. */
  nodeId: NodeId;
  /** The cluster's id (peers and WALs of another cluster are refused). */
  clusterId: string;
  /** Shared peer secret, at least 16 characters. */
  secret: string;
  /** Where the WAL, the snapshots and the member directory live. */
  dataDir: string;
  /**
   * The members of a new cluster, this node included. A node with an empty
   * data dir bootstraps the cluster with exactly these voters (every member
   * must be given the same set); a node with data ignores the set except to
   * learn addresses.
   */
  members: Readonly<Record<NodeId, MemberAddress>>;
  /** Start empty and wait to be added by the leader instead of bootstrapping. */
  join?: boolean;
  /**
   * Quorum recovery: restart from this node's data as the only voter of the
   * cluster (see `force_new_cluster.ts`); the other members rejoin empty.
   */
  forceNewCluster?: boolean;
  /**
   * Address ("host:port") the peer listener binds to; defaults to this
   * node's own peer address in `members`. Differs when peers reach this node
   * through a relay or NAT.
   */
  peerListen?: string;
  /** Clock and timeouts; defaults to `DEFAULT_TIMING`. */
  timing?: Partial<HostTiming>;
  /**
   * Snapshot and compact every so many applied entries. Default 100 000
   * (etcd's default snapshot count; see `DEFAULT_HOST_TUNABLES`).
   */
  snapshotEveryEntries?: number;
  /** Most outstanding client requests. Default 10 000. */
  maxPendingRequests?: number;
  /**
   * Largest peer frame sent or accepted. Default 64 MiB. Appends and
   * snapshot chunks are sized to a quarter of it by default: a snapshot of
   * any size streams in chunks, so this bounds memory per frame, not state.
   */
  maxPeerFrameBytes?: number;
  /**
   * How snapshots stream to followers; `chunkBytes` defaults to the smaller
   * of 1 MiB and a quarter of `maxPeerFrameBytes`, and must stay within half
   * of it (room for the message around the chunk).
   */
  snapshotTransfer?: Partial<SnapshotTransferConfig>;
  /** Largest WAL segment. Default 64 MiB. */
  walSegmentSizeBytes?: number;
  /** Watch-history compaction by the leader (etcd's `--auto-compaction-mode`). Default `revision`. */
  autoCompactionMode?: HostTunables["autoCompactionMode"];
  /** Revisions or milliseconds of history kept. Default 10 000 (revisions). */
  autoCompactionRetention?: number;
  /** `revision` mode: least time between compactions. Default 5 minutes. */
  autoCompactionIntervalMs?: number;
  /** TLS between nodes (certificates as PEM); plain TCP without. Either way peers prove the secret. */
  peerTls?: PeerTls;
  /** Log sink for transport and host events. */
  onLog?: (line: string) => void;
  /** Called when the disk fails; the host has stopped. Default: log and exit(70). */
  onFatal?: (error: unknown) => void;
}

/** What {@link NodeHost.status} reports. */
export interface HostStatus {
  /** This node. */
  id: NodeId;
  /** Current role. */
  role: string;
  /** Known leader, or null. */
  leader: NodeId | null;
  /** Current term. */
  term: number;
  /** Highest index known committed. */
  commitIndex: number;
  /** Highest index applied to the state machine. */
  appliedIndex: number;
  /** Last index in the durable log. */
  lastIndex: number;
  /** Voters and learners of the active configuration. */
  members: { voters: NodeId[]; learners: NodeId[] };
  /** Known addresses of members. */
  addresses: Record<NodeId, MemberAddress>;
  /** Per-peer link counters. */
  peers: Record<NodeId, PeerLinkStats>;
  /** The peer listener's counters: connections in their handshake, evicted, rejected. */
  peerInbound: InboundStats;
  /** Outstanding client requests. */
  pendingRequests: number;
  /**
   * Disk counters since start: group commit shows as far fewer syncs than
   * entries; `writeMs` is the time spent in WAL writes (and their syncs);
   * `deferred` counts commit-only hard states carried by a later write.
   */
  disk: { persists: number; syncs: number; entries: number; writeMs: number; deferred: number };
  /**
   * The latest snapshot in Raft storage, and whether its bytes are still in
   * memory (they are dropped once its file is durable, and read back from
   * the file for a follower).
   */
  snapshot: { index: number; dataHeld: boolean };
  /**
   * On the leader: how far each member's log matches, whether it was heard
   * from lately, and whether it is a learner (what promoting a learner waits on).
   */
  progress?: Record<NodeId, { match: number; recentActive: boolean; isLearner: boolean }>;
}

/** Observers of what the node applies. */
export interface HostListener {
  /** Committed entries were applied (the KV store already reflects them). */
  onApplied?(entries: readonly Entry[]): void;
  /** A snapshot replaced the state machine. */
  onSnapshotInstalled?(index: number): void;
  /** Leadership changed. */
  onRoleChanged?(role: string, leader: NodeId | null, term: number): void;
  /** A WAL write of `entries` entries took `durationMs` (with its fsync when `synced`). */
  onPersisted?(durationMs: number, entries: number, synced: boolean): void;
  /** A snapshot of `sizeBytes` at `index` is durable on disk. */
  onSnapshotSaved?(index: number, sizeBytes: number): void;
}

/** A request got no answer in time; a command's outcome is unknown. */
export class RequestTimeoutError extends Error {
  /** Says how long the request waited. */
  constructor(readonly timeoutMs: number) {
    super(
      `no reply from the Raft node within ${timeoutMs} ms; a write may or may not have applied`,
    );
    this.name = "RequestTimeoutError";
  }
}

/** The node refused a membership change (for example, it is not the leader). */
export class MembershipChangeError extends Error {
  /** Names the change and the node's reason. */
  constructor(readonly change: ConfChangeSingle, readonly error: NodeError) {
    super(`membership change ${change.type} ${change.nodeId} refused: ${error.code}`);
    this.name = "MembershipChangeError";
  }
}

/** The host stopped (closed or failed) before the request was answered. */
export class HostClosedError extends Error {
  /** Creates the error. */
  constructor() {
    super("the Raft node host is closed");
    this.name = "HostClosedError";
  }
}

/** Bound on queued events; beyond it peer messages are dropped (Raft tolerates loss). */
const MAX_QUEUED_EVENTS = 100_000;
/**
 * Snapshot files kept: the newest, which the WAL's marker names. Older ones
 * cannot serve a restart (the WAL entries after them are released) and each
 * is as large as the whole store.
 */
const SNAPSHOTS_KEPT = 1;
/** First byte of a JSON object: a conf change context that is a bare member address. */
const JSON_OBJECT_START = 0x7b;
/** How often a leader asks its lessor for due leases, in ticks. */
const LEASE_CHECK_EVERY_TICKS = 2;
/** How often a leader asks its auto-compactor whether to compact, in ticks. */
const COMPACTION_CHECK_EVERY_TICKS = 25;
/**
 * A tick this much later than its period is logged as an event-loop stall,
 * with the slowest event handled since the previous tick: a stall of ~250 ms
 * on a leader is an election timeout on its followers.
 */
const STALL_LOG_MS = 100;

/** Makes the state machine report each apply result (for the lessor). */
class ObservedStateMachine implements StateMachine<KvQuery, CommandResult> {
  constructor(
    readonly inner: KvStateMachine,
    readonly onResult: (result: CommandResult) => void,
  ) {}
  apply(command: Uint8Array, index: number): CommandResult {
    const result = this.inner.apply(command, index);
    this.onResult(result);
    return result;
  }
  read(query: KvQuery): CommandResult {
    return this.inner.read(query);
  }
  snapshot(): Uint8Array {
    return this.inner.snapshot();
  }
  snapshotSteps(): SnapshotSteps {
    return this.inner.snapshotSteps();
  }
  restore(data: Uint8Array): void {
    this.inner.restore(data);
  }
}

interface PendingRequest {
  resolve: (reply: NodeReply<CommandResult>) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * One node of a Raft cluster running on real I/O.
 *
 * @example
 * ```ts ignore
 * const host = await NodeHost.open({
 *   nodeId: "n1", clusterId: "demo", secret: "a-long-enough-secret", dataDir: "./data/n1",
 *   members: { n1: { peer: "127.0.0.1:9001", url: "http://127.0.0.1:8001" } },
 * });
 * const reply = await host.request({ kind: "command", command }, 5_000);
 * await host.close();
 * ```
 */
export class NodeHost {
  readonly id: NodeId;
  readonly timing: HostTiming;
  readonly #options: NodeHostOptions;
  readonly #node: ClusterNode<KvQuery, CommandResult>;
  readonly #raft: RawNode;
  readonly #sm: KvStateMachine;
  readonly #wal: FileWal;
  readonly #snapshots: SnapshotFiles;
  readonly #directory: MemberDirectory;
  readonly #lessor = new Lessor();
  readonly #compactor: AutoCompactor;
  #transport!: PeerTransport;
  #tickTimer: ReturnType<typeof setInterval> | undefined;
  #ticks = 0;
  readonly #pacer: TickPacer;
  /** The slowest event handled since the last tick, for the stall log. */
  #slowest = { what: "", ms: 0 };
  #disk: Promise<void> = Promise.resolve();
  /** Snapshot files being written, one at a time, beside the WAL queue. */
  #snapshotWork: Promise<void> = Promise.resolve();
  #queue: NodeEvent<KvQuery>[] = [];
  #draining = false;
  #closed = false;
  #nextRequestId = 1;
  readonly #pending = new Map<number, PendingRequest>();
  readonly #listeners = new Set<HostListener>();
  readonly #diskCounters = { persists: 0, syncs: 0, entries: 0, writeMs: 0, deferred: 0 };
  /** A commit-only hard state not yet written (see the `persist` effect). */
  #deferredHardState: HardState | undefined;
  /**
   * Newest snapshot whose file is durable: Raft storage drops that
   * snapshot's bytes (as large as the store) and reads the file back when a
   * follower needs it.
   */
  #durableSnapshotIndex = 0;
  /** The latest released snapshot's bytes, read back (or being read) for followers. */
  #readBack: SnapshotReadBack | undefined;

  private constructor(
    options: NodeHostOptions,
    timing: HostTiming,
    parts: {
      node: ClusterNode<KvQuery, CommandResult>;
      raft: RawNode;
      sm: KvStateMachine;
      wal: FileWal;
      snapshots: SnapshotFiles;
      directory: MemberDirectory;
      compactor: AutoCompactor;
      /** Index of the snapshot file the node was recovered from (0: none). */
      snapshotIndex: number;
    },
  ) {
    this.id = options.nodeId;
    this.#options = options;
    this.timing = timing;
    this.#pacer = new TickPacer(timing.tickMs, performance.now());
    this.#node = parts.node;
    this.#raft = parts.raft;
    this.#sm = parts.sm;
    this.#wal = parts.wal;
    this.#snapshots = parts.snapshots;
    this.#directory = parts.directory;
    this.#compactor = parts.compactor;
    this.#durableSnapshotIndex = parts.snapshotIndex;
    // Raft asks for a released snapshot's bytes in the middle of a step: the
    // first ask starts an asynchronous read and is answered "not yet" (Raft
    // asks again later), so a large file never stalls the leader. The bytes
    // read back stay until a newer snapshot is durable, for the next follower.
    parts.node.storage.setSnapshotSource((metadata) => {
      const readBack = this.#readBack;
      if (readBack?.index === metadata.index && readBack.term === metadata.term) {
        return readBack.data;
      }
      const reading: SnapshotReadBack = { ...metadata, data: undefined };
      this.#readBack = reading;
      parts.snapshots.load(metadata.index, metadata.term).then(
        (snapshot) => (reading.data = snapshot?.data),
        (error) => {
          // A newer snapshot may already have replaced this file; the next ask reads again.
          this.#log(`cannot read snapshot ${metadata.index} back for a follower: ${error}`);
          if (this.#readBack === reading) this.#readBack = undefined;
        },
      );
      return undefined;
    });
    this.#releaseDurableSnapshot();
  }

  /** Recovers the node from its data dir (or bootstraps it), starts the peer transport and the clock. */
  static async open(options: NodeHostOptions): Promise<NodeHost> {
    const resolved = resolveHostOptions(options);
    const timing = resolved.timing;
    await Deno.mkdir(options.dataDir, { recursive: true });
    const directory = await MemberDirectory.load(
      `${options.dataDir}/members.json`,
      options.members,
    );
    const self = directory.get(options.nodeId);
    if (!self) {
      throw new RangeError(`members has no address for this node "${options.nodeId}"`);
    }
    const openedMs = performance.now();
    const { wal, state } = await FileWal.open(`${options.dataDir}/wal`, {
      nodeId: options.nodeId,
      clusterId: options.clusterId,
      segmentSizeBytes: resolved.walSegmentSizeBytes,
    });
    const snapshots = new SnapshotFiles(`${options.dataDir}/snap`);
    let host: NodeHost | undefined;
    try {
      if (options.forceNewCluster) {
        if (state.hardState.term === 0 && state.snapshot.index === 0) {
          throw new ConfigError("node host", "forceNewCluster", "this node has no data to recover");
        }
        const others = [...directory.entries()].map(([id]) => id);
        const forced = forceNewClusterLog(state, options.nodeId, others);
        await wal.save(forced.hardState, forced.appended, true);
        state.entries = forced.entries;
        state.hardState = forced.hardState;
        options.onLog?.(
          `[${options.nodeId}] forced a new cluster of one at index ${forced.hardState.commit}; ` +
            `removed ${others.filter((id) => id !== options.nodeId).join(", ") || "nobody"}`,
        );
      }
      const walMs = performance.now();
      const kv = new KvStateMachine();
      // The store is restored while the file streams by: the snapshot's bytes,
      // as large as the store, are never in memory whole. Raft storage gets
      // its metadata only; a follower that needs it is served from the file.
      const metadata = snapshots.stream(state.snapshot.index, state.snapshot.term, (m, data) => {
        // The file's checksum covers these bytes and is checked at its end.
        kv.restoreStream(data, { verifyChecksum: false });
        return m;
      });
      const recovered = recoverStorage(
        state,
        metadata && { metadata, data: new Uint8Array(0) },
      );
      // What a restart costs, and what it follows: the snapshot and the WAL after it.
      options.onLog?.(
        `[${options.nodeId}] recovered in ${Math.round(performance.now() - openedMs)} ms: ` +
          `WAL ${Math.round(walMs - openedMs)} ms (${state.entries.length} entries after ` +
          `snapshot ${state.snapshot.index}), snapshot file streamed and ` +
          `${kv.store.size} keys restored in ${Math.round(performance.now() - walMs)} ms`,
      );
      const maxFrameBytes = options.maxPeerFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
      const messageBudgetBytes = Math.min(1024 * 1024, Math.floor(maxFrameBytes / 4));
      const snapshotTransfer = withDefaults(
        { chunkBytes: messageBudgetBytes },
        options.snapshotTransfer,
      );
      if (snapshotTransfer.chunkBytes > maxFrameBytes / 2) {
        throw new ConfigError(
          "node host",
          "snapshotTransfer.chunkBytes",
          `${snapshotTransfer.chunkBytes} is more than half of maxPeerFrameBytes (${maxFrameBytes})`,
        );
      }
      const seed = crypto.getRandomValues(new Uint32Array(1))[0];
      const rng = new SeededRng(seed);
      const raft = new RawNode({
        id: options.nodeId,
        electionTicks: timing.electionTicks,
        heartbeatTicks: timing.heartbeatTicks,
        storage: recovered.storage,
        rng: rng.fork(),
        applied: recovered.appliedIndex,
        checkQuorum: true,
        checkQuorumTicks: checkQuorumTicks(timing),
        preVote: true,
        // The leader's appends leave before its own fsync; it counts itself once durable.
        asyncLeaderAppend: true,
        // An append (one entry beyond this at most) must fit a peer frame.
        maxSizePerMsgBytes: messageBudgetBytes,
      });
      const empty = state.hardState.term === 0 && recovered.storage.lastIndex() === 0;
      if (empty && !options.join) raft.bootstrap(Object.keys(options.members).sort());
      let onResult: (result: CommandResult) => void = () => {};
      const sm = new ObservedStateMachine(kv, (result) => onResult(result));
      const node = new ClusterNode<KvQuery, CommandResult>({
        id: options.nodeId,
        raft,
        storage: recovered.storage,
        stateMachine: sm,
        appliedIndex: recovered.appliedIndex,
        confState: recovered.snapshot?.metadata.confState ?? emptyConfState(),
        rng,
        snapshotEveryEntries: resolved.snapshotEveryEntries,
        maxPendingRequests: resolved.maxPendingRequests,
        forwardProposals: true,
        snapshotTransfer,
      });
      host = new NodeHost(options, timing, {
        node,
        raft,
        sm: kv,
        wal,
        snapshots,
        directory,
        compactor: newAutoCompactor(resolved),
        snapshotIndex: state.snapshot.index,
      });
      const created = host;
      onResult = (result) => created.#lessor.observe(result, performance.now());
      const peers: Record<NodeId, string> = {};
      for (const [id, address] of directory.entries()) {
        if (id !== options.nodeId) peers[id] = address.peer;
      }
      const listen = options.peerListen ?? self.peer;
      const separator = listen.lastIndexOf(":");
      host.#transport = await PeerTransport.start({
        nodeId: options.nodeId,
        clusterId: options.clusterId,
        secret: options.secret,
        hostname: listen.slice(0, separator).replace(/^\[|\]$/g, ""),
        port: Number(listen.slice(separator + 1)),
        peers,
        onMessages: (messages) => {
          for (const message of messages) created.#enqueue({ type: "message", message });
        },
        onUnreachable: (peer) => created.#enqueue({ type: "unreachable", peer }),
        maxFrameBytes,
        tls: options.peerTls,
        onEvent: (event) => created.#log(describePeerEvent(event)),
      });
    } catch (error) {
      wal.close();
      throw error;
    }
    host.#tickTimer = setInterval(() => host.#tick(), timing.tickMs);
    // Bootstrap may have produced work (the initial configuration) to persist.
    host.#enqueue({ type: "tick" });
    return host;
  }

  /** The replicated KV store as of the applied index (read-only use). */
  get store(): KvStore {
    return this.#sm.store;
  }

  /** Whether the host has stopped. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The address of a member, if known. */
  memberAddress(id: NodeId): MemberAddress | undefined {
    return this.#directory.get(id);
  }

  /** Registers an observer; returns a function that removes it. */
  listen(listener: HostListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Hands a request to the node. Resolves with the node's reply; rejects
   * with {@link RequestTimeoutError} after `timeoutMs` (a command's outcome
   * is then unknown) or {@link HostClosedError}.
   */
  request(request: ClientRequest<KvQuery>, timeoutMs: number): Promise<NodeReply<CommandResult>> {
    if (this.#closed) return Promise.reject(new HostClosedError());
    const requestId = this.#nextRequestId++;
    const { promise, resolve, reject } = Promise.withResolvers<NodeReply<CommandResult>>();
    const timer = setTimeout(() => {
      this.#pending.delete(requestId);
      // Frees the node's slot: a lost ReadIndex round would otherwise hold it forever.
      this.#enqueue({ type: "cancel", requestId });
      reject(new RequestTimeoutError(timeoutMs));
    }, timeoutMs);
    this.#pending.set(requestId, { resolve, reject, timer });
    this.#enqueue({ type: "request", requestId, request });
    return promise;
  }

  /** Asks this node to campaign now. */
  campaign(): void {
    this.#enqueue({ type: "campaign" });
  }

  /** Asks this node (the leader) to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    this.#enqueue({ type: "transferLeader", to });
  }

  /**
   * Proposes adding or removing a member (this node must lead). The new
   * member's address travels in the conf change, so every node learns it
   * when the change applies. Resolves once the change is applied here.
   */
  async changeMembership(
    change: ConfChangeSingle,
    address: MemberAddress | undefined,
    timeoutMs: number,
  ): Promise<{ voters: NodeId[]; learners: NodeId[] }> {
    if (change.type !== "removeNode") {
      address = validateMemberAddress("address", address);
    }
    const context = address ? new TextEncoder().encode(JSON.stringify(address)) : undefined;
    const reply = await this.request({
      kind: "confChange",
      change: { transition: "auto", changes: [change], context },
    }, timeoutMs);
    if (!reply.ok) throw new MembershipChangeError(change, reply.error);
    return this.#members();
  }

  /** The node's state, for monitoring. */
  status(): HostStatus {
    const raftStatus = this.#raft.status();
    const soft = this.#node.softState;
    const storage = this.#node.storage;
    return {
      id: this.id,
      role: soft.role,
      leader: soft.lead,
      term: raftStatus.hardState.term,
      commitIndex: raftStatus.hardState.commit,
      appliedIndex: this.#node.appliedIndex,
      lastIndex: storage.lastIndex(),
      members: this.#members(),
      addresses: Object.fromEntries(this.#directory.entries()),
      peers: this.#transport.stats(),
      peerInbound: this.#transport.inboundStats(),
      pendingRequests: this.#node.pendingRequests,
      disk: { ...this.#diskCounters },
      snapshot: { index: storage.snapshotMetadata.index, dataHeld: storage.snapshotDataHeld },
      ...(raftStatus.progress
        ? {
          progress: Object.fromEntries(
            [...raftStatus.progress].map((
              [id, p],
            ) => [id, { match: p.match, recentActive: p.recentActive, isLearner: p.isLearner }]),
          ),
        }
        : {}),
    };
  }

  /** Stops the clock and the transport, waits for disk writes, closes the WAL. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const deferred = this.#deferredHardState;
    this.#stop();
    await this.#transport.close();
    await this.#snapshotWork;
    await this.#disk.catch(() => {});
    // Best effort: a restart then replays up to the latest known commit without waiting for a leader.
    if (deferred) await this.#wal.save(deferred, [], true).catch(() => {});
    this.#wal.close();
  }

  #members(): { voters: NodeId[]; learners: NodeId[] } {
    const conf = this.#node.confState;
    return {
      voters: [...new Set([...conf.voters, ...conf.votersOutgoing])].sort(),
      learners: [...conf.learners].sort(),
    };
  }

  #stop(): void {
    this.#closed = true;
    clearInterval(this.#tickTimer);
    this.#queue = [];
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new HostClosedError());
    }
    this.#pending.clear();
  }

  #log(line: string): void {
    this.#options.onLog?.(`[${this.id}] ${line}`);
  }

  #tick(): void {
    const counts = this.#pacer.fire(performance.now());
    const lateMs = this.#pacer.lateMs;
    if (lateMs >= STALL_LOG_MS) {
      const { what, ms } = this.#slowest;
      this.#log(
        `event loop stalled ${Math.round(lateMs)} ms; slowest event since the last tick: ` +
          (what === "" ? "none" : `${what} (${Math.round(ms)} ms)`) +
          (counts ? "" : "; this tick skipped"),
      );
    }
    this.#slowest = { what: "", ms: 0 };
    if (!counts) return;
    this.#ticks++;
    this.#enqueue({ type: "tick" });
    if (this.#ticks % LEASE_CHECK_EVERY_TICKS === 0) this.#expireLeases();
    if (this.#ticks % COMPACTION_CHECK_EVERY_TICKS === 0) this.#autoCompact();
  }

  /** The leader proposes the compactions its policy asks for, as etcd's compactor does. */
  #autoCompact(): void {
    if (this.#node.softState.role !== "leader") return;
    const store = this.store;
    const command = this.#compactor.decide(
      performance.now(),
      store.revision,
      store.compactRevision,
    );
    if (command === undefined) return;
    // Fire and forget: a compaction lost to a leader change is decided again later.
    this.request({ kind: "command", command: encodeCommand(command) }, 10 * this.timing.tickMs)
      .catch(() => {});
  }

  #expireLeases(): void {
    if (!this.#lessor.isPrimary) return;
    const term = this.#node.term;
    for (const command of this.#lessor.expireCommands(performance.now(), term, this.store)) {
      // Fire and forget: the lessor retries an expiry that does not apply.
      this.request({ kind: "command", command: encodeCommand(command) }, 10 * this.timing.tickMs)
        .catch(() => {});
    }
  }

  #enqueue(event: NodeEvent<KvQuery>): void {
    if (this.#closed) return;
    if (this.#queue.length >= MAX_QUEUED_EVENTS && event.type === "message") return;
    this.#queue.push(event);
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let i = 0; i < this.#queue.length && !this.#closed; i++) {
        const startedMs = performance.now();
        const effects = this.#node.handle(this.#queue[i]);
        for (const effect of effects) this.#execute(effect);
        const tookMs = performance.now() - startedMs;
        if (tookMs > this.#slowest.ms) {
          this.#slowest = { what: describeEvent(this.#queue[i], effects), ms: tookMs };
        }
      }
      this.#releaseDurableSnapshot();
    } catch (error) {
      this.#fatal(error);
    } finally {
      this.#queue = [];
      this.#draining = false;
    }
  }

  #execute(effect: NodeEffect<CommandResult>): void {
    switch (effect.type) {
      case "persist": {
        // A persist that only moves the commit index needs no disk write at
        // all before the node goes on: the entries it commits are already
        // durable, and a commit index lost in a crash is learned again from
        // the leader. It rides along with the next write instead, which keeps
        // the disk queue free for the writes that must be synced.
        if (!effect.mustSync && effect.entries.length === 0 && !effect.snapshot) {
          this.#deferredHardState = effect.hardState;
          this.#diskCounters.deferred++;
          this.#enqueue({ type: "persisted", persistId: effect.persistId });
          return;
        }
        const hardState = effect.hardState ?? this.#deferredHardState;
        this.#deferredHardState = undefined;
        const issuedMs = performance.now();
        this.#onDisk(async () => {
          if (effect.snapshot) {
            const { index, term } = effect.snapshot.metadata;
            await this.#snapshots.save(effect.snapshot);
            const sizeBytes = effect.snapshot.data.byteLength;
            for (const l of this.#listeners) l.onSnapshotSaved?.(index, sizeBytes);
            this.#snapshotDurable(index);
            await this.#wal.saveSnapshotMarker(index, term);
          }
          const startedMs = performance.now();
          await this.#wal.save(hardState, effect.entries, effect.mustSync);
          const doneMs = performance.now();
          this.#diskCounters.writeMs += doneMs - startedMs;
          for (const l of this.#listeners) {
            l.onPersisted?.(doneMs - startedMs, effect.entries.length, effect.mustSync);
          }
          // The node hands out no further work (a leader's heartbeats included)
          // until this write is done: a slow disk is silence to the peers.
          if (doneMs - issuedMs >= STALL_LOG_MS) {
            this.#log(
              `slow persist: ${
                Math.round(doneMs - issuedMs)
              } ms for ${effect.entries.length} entries ` +
                `(${Math.round(startedMs - issuedMs)} ms queued, ${
                  Math.round(doneMs - startedMs)
                } ms writing` +
                (effect.mustSync ? " and syncing)" : ")"),
            );
          }
          this.#diskCounters.persists++;
          if (effect.mustSync) this.#diskCounters.syncs++;
          this.#diskCounters.entries += effect.entries.length;
        }, () => this.#enqueue({ type: "persisted", persistId: effect.persistId }));
        return;
      }

      case "send":
        // Snapshots arrive here as bounded chunks; the node hears of their
        // delivery from the follower's acks, not from the transport.
        this.#transport.send(effect.messages);
        return;
      case "reply": {
        const pending = this.#pending.get(effect.requestId);
        if (!pending) return;
        this.#pending.delete(effect.requestId);
        clearTimeout(pending.timer);
        pending.resolve(effect.reply);
        return;
      }
      case "applied":
        for (const entry of effect.entries) {
          if (entry.type === "confChange") this.#confChangeApplied(entry);
        }
        for (const l of this.#listeners) l.onApplied?.(effect.entries);
        return;
      case "snapshotInstalled":
        this.#log(`installed the leader's snapshot at ${effect.index} (term ${effect.term})`);
        if (this.#lessor.isPrimary) this.#lessor.promote(performance.now(), this.store.leases());
        for (const l of this.#listeners) l.onSnapshotInstalled?.(effect.index);
        return;
      case "snapshotTaken": {
        const { index, term } = effect.snapshot.metadata;
        // Megabytes of snapshot must not hold up the WAL writes that commits
        // wait for: the file is written beside them. Only the marker that lets
        // the WAL drop entries, and the purge (which must not race a save), take
        // their turn in the WAL queue, once the file is durable.
        this.#snapshotWork = this.#snapshotWork.then(async () => {
          if (this.#closed) return;
          try {
            await this.#snapshots.save(effect.snapshot);
            const sizeBytes = effect.snapshot.data.byteLength;
            for (const l of this.#listeners) l.onSnapshotSaved?.(index, sizeBytes);
            this.#snapshotDurable(index);
          } catch (error) {
            this.#fatal(error);
            return;
          }
          await this.#onDisk(async () => {
            // A snapshot received from the leader meanwhile may already be newer.
            if (index > this.#wal.snapshotIndex) {
              await this.#wal.saveSnapshotMarker(index, term);
              await this.#wal.releaseToSnapshot();
            }
            await this.#snapshots.purge(SNAPSHOTS_KEPT);
          }, () => this.#log(`snapshot at ${index} saved, log compacted`));
        });
        return;
      }
      case "roleChanged":
        if (effect.role === "leader") this.#lessor.promote(performance.now(), this.store.leases());
        else this.#lessor.demote();
        this.#compactor.reset();
        this.#log(`${effect.role} in term ${effect.term}, leader ${effect.leader ?? "unknown"}`);
        for (const l of this.#listeners) l.onRoleChanged?.(effect.role, effect.leader, effect.term);
        return;
    }
  }

  #snapshotDurable(index: number): void {
    this.#durableSnapshotIndex = Math.max(this.#durableSnapshotIndex, index);
  }

  /**
   * Drops the latest snapshot's bytes from Raft storage once its file is
   * durable. Checked after every batch of events: a received snapshot
   * reaches storage only after its file was written.
   */
  #releaseDurableSnapshot(): void {
    const storage = this.#node.storage;
    if (!storage.snapshotDataHeld) return;
    const { index } = storage.snapshotMetadata;
    if (index > 0 && index === this.#durableSnapshotIndex) {
      storage.releaseSnapshotData(index);
      if (this.#readBack !== undefined && this.#readBack.index !== index) {
        this.#readBack = undefined;
      }
    }
  }

  #confChangeApplied(entry: Entry): void {
    const cc = decodeConfChange(entry.data);
    let address: MemberAddress | undefined;
    if (cc.context && cc.context.length > 0) {
      // The address is JSON, bare or inside a proposal envelope.
      const json = cc.context[0] === JSON_OBJECT_START
        ? cc.context
        : decodeEnvelope(cc.context).command;
      try {
        address = validateMemberAddress(
          "conf change context",
          JSON.parse(new TextDecoder().decode(json)),
        );
      } catch (error) {
        this.#log(`ignoring a conf change context: ${error}`);
      }
    }
    let changed = false;
    for (const change of cc.changes) {
      if (change.type === "removeNode") {
        this.#transport.removePeer(change.nodeId);
        if (change.nodeId !== this.id) changed = this.#directory.delete(change.nodeId) || changed;
      } else if (address) {
        changed = this.#directory.set(change.nodeId, address) || changed;
        if (change.nodeId !== this.id) this.#transport.addPeer(change.nodeId, address.peer);
      }
    }
    if (changed) this.#onDisk(() => this.#directory.save(), () => {});
  }

  /**
   * Runs disk work in order, one at a time; a failure stops the node. The
   * returned promise settles (never rejects) once the work ran or was skipped.
   */
  #onDisk(work: () => Promise<void>, then: () => void): Promise<void> {
    this.#disk = this.#disk.then(async () => {
      if (this.#closed) return;
      try {
        await work();
      } catch (error) {
        this.#fatal(error);
        return;
      }
      then();
    });
    return this.#disk;
  }

  #fatal(error: unknown): void {
    if (this.#closed) return;
    this.#stop();
    this.#transport.close().catch(() => {});
    const onFatal = this.#options.onFatal ?? ((e: unknown) => {
      console.error(`[${this.id}] fatal:`, e);
      Deno.exit(70);
    });
    onFatal(error);
  }
}

function describeEvent(
  event: NodeEvent<KvQuery>,
  effects: readonly NodeEffect<CommandResult>[],
): string {
  let what: string = event.type;
  if (event.type === "message") {
    const m = event.message;
    what = `${m.type} from ${m.from} (${m.entries.length} entries` +
      (m.snapshot ? `, snapshot at ${m.snapshot.metadata.index}` : "") + ")";
  } else if (event.type === "request") {
    what = `request ${event.request.kind}`;
  }
  const applied = effects.reduce((n, e) => n + (e.type === "applied" ? e.entries.length : 0), 0);
  const sent = effects.reduce((n, e) => n + (e.type === "send" ? e.messages.length : 0), 0);
  const persisted = effects.reduce((n, e) => n + (e.type === "persist" ? e.entries.length : 0), 0);
  return `${what} -> applied ${applied}, sent ${sent} messages, persist ${persisted} entries`;
}

function describePeerEvent(event: PeerEvent): string {
  switch (event.kind) {
    case "rejected":
      // The claimed id is a stranger's string: quoted, so it cannot forge log lines.
      return `rejected peer connection from ${event.remote} claiming ${
        JSON.stringify(event.claimedNodeId.slice(0, 64))
      }: ${event.reason}${
        event.suppressed > 0 ? ` (${event.suppressed} more rejections not logged)` : ""
      }`;
    case "connected":
      return `connected to ${event.peer}`;
    case "disconnected":
      return `disconnected from ${event.peer}: ${event.reason}`;
    case "dropped":
      return `dropped ${event.count} messages to ${event.peer}`;
    case "oversized":
      return `dropped a ${event.type} message to ${event.peer}: larger than a frame (${event.limitBytes} bytes)`;
  }
}
