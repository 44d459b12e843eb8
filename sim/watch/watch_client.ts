/**
 * A simulated watch client: it holds one watch on one node at a time and
 * remembers the `nextRevision` of the last delivery (or progress) it
 * received. When its node crashes, stays paused past the keep-alive, has no
 * leader (the node cancels the watch, like etcd's require-leader) or, for a
 * client that follows the leader, loses leadership, the client reconnects to
 * another live node and resumes from that revision. A resume the history no
 * longer covers is refused with a {@link CompactedRevisionError}: the client
 * then does what the error asks, re-reads the current state (the node's
 * revision) and watches on from after it, recording the revisions it skipped.
 * (Resuming right at the compaction edge instead would be compacted again by
 * the next writes, over and over, under a steady write load.)
 *
 * Node-to-client traffic goes over a FIFO channel per connection; a closed
 * connection drops whatever was still in flight, as a broken stream does.
 *
 * @module
 */
import type { SeededRng } from "@safla/core";
import type { NodeId } from "@safla/core/raft";
import type { KvQuery } from "@safla/core/node";
import {
  type CommandResult,
  CompactedRevisionError,
  type WatchDelivery,
  type WatchEvent,
  type WatchFilter,
} from "@safla/core/state";
import type { SimCluster } from "../cluster.ts";
import type { Scheduler } from "../scheduler.ts";
import type { Trace } from "../trace.ts";
import type { ExcusedRange } from "./watch_checker.ts";
import type { AcceptedWatch, StateRead, WatchServers } from "./watch_server.ts";

/** Which nodes a client attaches to. */
export type AttachPolicy = "leader" | "any";

/**
 * Deliberately broken resumes, to show the checker catches them:
 * `resumeSkipsOne` resumes from `nextRevision + 1`; `resumeFromNow` resumes
 * from the new node's current revision; `swallowCompaction` treats a
 * compaction error as if nothing had been missed; `acceptsStaleStream`
 * keeps taking events from the connection it left behind.
 */
export type ResumeMutation =
  | "resumeSkipsOne"
  | "resumeFromNow"
  | "swallowCompaction"
  | "acceptsStaleStream";

/** Why a client reconnected. */
export type ReconnectReason =
  | "crash"
  | "keepalive"
  | "noLeader"
  | "leadershipLost"
  | "compacted"
  | "refused"
  | "connectTimeout"
  | "outage";

/** How one client behaves. */
export interface WatchClientConfig {
  /** Name in reports. */
  name: string;
  /** What it watches. */
  filter: WatchFilter;
  /** Watch from revision 1 (true) or from the first node's next revision (false). */
  fromStart: boolean;
  /** Which nodes it attaches to. */
  policy: AttachPolicy;
  /** One-way latency between the client and any node. */
  latencyUs: number;
  /** How often the client checks its connection. */
  checkUs: number;
  /** A paused node is given up after this long. */
  keepaliveUs: number;
  /** A node without a leader for this long cancels its watches. */
  noLeaderUs: number;
  /** A connection attempt without an answer is abandoned after this long. */
  connectTimeoutUs: number;
  /** Wait before trying again when no node is suitable. */
  backoffUs: number;
}

/** Counters of one client. */
export interface WatchClientStats {
  /** Watches accepted by a node (the first one included). */
  attaches: number;
  /** Reconnections, by reason. */
  reconnects: Record<ReconnectReason, number>;
  /** Compaction errors received (at attach or as a cancellation). */
  compactedErrors: number;
  /** Of those, running watches a node cancelled because they fell behind its history. */
  cancellations: number;
  /** Events received. */
  events: number;
}

interface Channel {
  open: boolean;
  lastArrivalUs: number;
}

interface Session {
  channel: Channel;
  node: NodeId;
  sinceUs: number;
  accepted?: AcceptedWatch;
  stalledSinceUs?: number;
  noLeaderSinceUs?: number;
}

/** Bound on attempts to reattach after consecutive compaction errors without a delivery. */
const MAX_COMPACTION_RETRIES = 1_000;

/**
 * One client.
 *
 * @example
 * ```ts ignore
 * const client = new WatchClient(scheduler, rng, cluster, servers, trace, config);
 * client.start(endUs); // then scheduler.runUntil(...)
 * console.log(client.received.length, client.stats.reconnects);
 * ```
 */
export class WatchClient {
  /** How this client behaves. */
  readonly config: WatchClientConfig;
  readonly #scheduler: Scheduler;
  readonly #rng: SeededRng;
  readonly #cluster: SimCluster<KvQuery, CommandResult>;
  readonly #servers: WatchServers;
  readonly #trace: Trace;
  readonly #mutation: ResumeMutation | undefined;
  #session: Session | undefined;
  #offline = false;
  #compactionRetries = 0;
  /** Set after a compaction error: the first revision the client has not seen. */
  #resyncFrom: number | undefined;
  /** First revision the watch covers (known once the first node accepted it). */
  startRevision: number | undefined;
  /** Revision to resume from: everything before it was received. */
  nextRevision = 0;
  /** Events received, in order. */
  readonly received: WatchEvent[] = [];
  /** Revisions skipped after compaction errors (replaced by a re-read of the state). */
  readonly excused: ExcusedRange[] = [];
  /** What happened to this client. */
  readonly stats: WatchClientStats = {
    attaches: 0,
    reconnects: {
      crash: 0,
      keepalive: 0,
      noLeader: 0,
      leadershipLost: 0,
      compacted: 0,
      refused: 0,
      connectTimeout: 0,
      outage: 0,
    },
    compactedErrors: 0,
    cancellations: 0,
    events: 0,
  };

  /** A client that has not connected yet. */
  constructor(
    scheduler: Scheduler,
    rng: SeededRng,
    cluster: SimCluster<KvQuery, CommandResult>,
    servers: WatchServers,
    trace: Trace,
    config: WatchClientConfig,
    mutation?: ResumeMutation,
  ) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#cluster = cluster;
    this.#servers = servers;
    this.#trace = trace;
    this.config = config;
    this.#mutation = mutation;
  }

  /** Whether the client holds an accepted watch now. */
  get watching(): boolean {
    return this.#session?.accepted !== undefined;
  }

  /** Connects, then checks the connection every `checkUs` until `stopCheckingAtUs`. */
  start(stopCheckingAtUs: number): void {
    this.#connect();
    const check = (): void => {
      this.#check();
      if (this.#scheduler.nowUs < stopCheckingAtUs) {
        this.#scheduler.after(this.config.checkUs, check);
      }
    };
    this.#scheduler.after(this.config.checkUs, check);
  }

  /** The client loses its connection for `durationUs`, then reconnects. */
  outage(durationUs: number): void {
    if (this.#offline) return;
    this.#offline = true;
    this.#close();
    this.#trace.record(this.#scheduler.nowUs, "-", "watchOutage", this.config.name);
    this.#scheduler.after(durationUs, () => this.endOutage());
  }

  /** Ends an outage now (no-op if none). */
  endOutage(): void {
    if (!this.#offline) return;
    this.#offline = false;
    this.#reconnect("outage");
  }

  #check(): void {
    const session = this.#session;
    if (this.#offline || session === undefined) return;
    const now = this.#scheduler.nowUs;
    const c = this.config;
    if (session.accepted === undefined) {
      if (now - session.sinceUs >= c.connectTimeoutUs) this.#reconnect("connectTimeout");
      return;
    }
    const p = this.#cluster.process(session.node);
    if (
      p.incarnation !== session.accepted.incarnation || p.status === "down" ||
      p.status === "refused"
    ) {
      this.#reconnect("crash");
      return;
    }
    if (p.status === "paused" || p.node === undefined) {
      session.stalledSinceUs ??= now;
      if (now - session.stalledSinceUs >= c.keepaliveUs) this.#reconnect("keepalive");
      return;
    }
    session.stalledSinceUs = undefined;
    const soft = p.node.softState;
    if (soft.lead === null) {
      session.noLeaderSinceUs ??= now;
      if (now - session.noLeaderSinceUs >= c.noLeaderUs) this.#reconnect("noLeader");
      return;
    }
    session.noLeaderSinceUs = undefined;
    if (c.policy === "leader" && soft.role !== "leader") this.#reconnect("leadershipLost");
  }

  #reconnect(reason: ReconnectReason): void {
    this.stats.reconnects[reason]++;
    const left = this.#session?.node;
    this.#trace.record(
      this.#scheduler.nowUs,
      left ?? "-",
      "watchReconnect",
      `${this.config.name} ${reason} next ${this.nextRevision}`,
    );
    this.#close();
    // After a compaction error the node itself was fine; after anything else, try another.
    this.#connect(reason === "compacted" ? undefined : left);
  }

  /** Closes the connection; the node forgets the watch. */
  #close(): void {
    const session = this.#session;
    if (session === undefined) return;
    this.#session = undefined;
    if (this.#mutation === "acceptsStaleStream") return;
    session.channel.open = false;
    if (session.accepted !== undefined) this.#servers.cancel(session.accepted);
  }

  #connect(avoid?: NodeId): void {
    if (this.#offline) return;
    const target = this.#pickNode(avoid);
    if (target === undefined) {
      this.#scheduler.after(this.config.backoffUs, () => {
        if (this.#session === undefined) this.#connect(avoid);
      });
      return;
    }
    const channel: Channel = { open: true, lastArrivalUs: 0 };
    const session: Session = { channel, node: target, sinceUs: this.#scheduler.nowUs };
    this.#session = session;
    this.#scheduler.after(this.config.latencyUs, () => this.#arrive(session));
  }

  /** The watch request reaches the node. */
  #arrive(session: Session): void {
    if (!session.channel.open) return;
    // After a compaction error, the re-read: the node's state stands in for the missed events.
    const reread = this.#resyncFrom === undefined ? undefined : this.#servers.read(session.node);
    const start = reread === undefined
      ? this.#resumeRevision()
      : Math.max(this.nextRevision, reread.revision + 1);
    let accepted: AcceptedWatch | undefined;
    try {
      accepted = this.#servers.watch(session.node, this.config.filter, start, {
        deliver: (d) => this.#send(session, () => this.#onDelivery(session, d)),
        progress: (n) => this.#send(session, () => this.#onProgress(n)),
      });
    } catch (error) {
      if (!(error instanceof CompactedRevisionError)) throw error;
      this.#send(session, () => this.#onCompacted(session, error));
      return;
    }
    if (accepted === undefined) {
      // Nobody answers on a node that is down: the client sees a refused connection.
      this.#scheduler.after(this.config.latencyUs, () => {
        if (this.#session === session) this.#reconnect("refused");
      });
      return;
    }
    const watch = accepted;
    this.#send(session, () => this.#onAccepted(session, watch, reread));
  }

  #resumeRevision(): number | undefined {
    if (this.startRevision === undefined) return this.config.fromStart ? 1 : undefined;
    switch (this.#mutation) {
      case "resumeSkipsOne":
        return this.nextRevision + 1;
      case "resumeFromNow":
        return undefined;
      default:
        return this.nextRevision;
    }
  }

  /** Node-to-client message on the session's connection, in order, lost if it closes. */
  #send(session: Session, receive: () => void): void {
    const channel = session.channel;
    const arriveUs = Math.max(this.#scheduler.nowUs + this.config.latencyUs, channel.lastArrivalUs);
    channel.lastArrivalUs = arriveUs;
    this.#scheduler.at(arriveUs, () => {
      if (channel.open) receive();
    });
  }

  #onAccepted(session: Session, accepted: AcceptedWatch, reread: StateRead | undefined): void {
    session.accepted = accepted;
    session.sinceUs = this.#scheduler.nowUs;
    this.stats.attaches++;
    if (this.startRevision === undefined) {
      this.startRevision = accepted.startRevision;
      this.nextRevision = accepted.startRevision;
    } else if (this.#resyncFrom !== undefined && reread !== undefined) {
      if (accepted.startRevision > this.#resyncFrom) {
        this.excused.push({
          fromRevision: this.#resyncFrom,
          throughRevision: accepted.startRevision - 1,
          state: reread,
        });
      }
      this.#resyncFrom = undefined;
      this.nextRevision = accepted.startRevision;
    } else if (this.#mutation !== undefined) {
      this.nextRevision = accepted.startRevision;
    }
    this.#trace.record(
      this.#scheduler.nowUs,
      accepted.node,
      "watchAttach",
      `${this.config.name} from ${accepted.startRevision}`,
    );
  }

  #onDelivery(session: Session, delivery: WatchDelivery): void {
    if (delivery.kind === "canceled") {
      this.stats.cancellations++;
      this.#onCompacted(session, delivery.error);
      return;
    }
    this.#compactionRetries = 0;
    for (const event of delivery.events) this.received.push(event);
    this.stats.events += delivery.events.length;
    this.nextRevision = delivery.nextRevision;
  }

  #onProgress(nextRevision: number): void {
    if (nextRevision > this.nextRevision) this.nextRevision = nextRevision;
  }

  #onCompacted(session: Session, error: CompactedRevisionError): void {
    if (this.#session !== session) return;
    this.stats.compactedErrors++;
    if (++this.#compactionRetries > MAX_COMPACTION_RETRIES) {
      throw new Error(`${this.config.name}: ${MAX_COMPACTION_RETRIES} compaction errors in a row`);
    }
    if (this.startRevision === undefined) this.startRevision = error.requestedRevision;
    if (this.#mutation === "swallowCompaction") {
      this.nextRevision = error.compactRevision + 1;
    } else {
      this.#resyncFrom = Math.min(this.#resyncFrom ?? Infinity, error.requestedRevision);
    }
    this.#reconnect("compacted");
  }

  /** A running node that knows a leader; the leader itself for leader-following clients. */
  #pickNode(avoid: NodeId | undefined): NodeId | undefined {
    const candidates: Array<{ id: NodeId; term: number; leader: boolean }> = [];
    for (const id of this.#cluster.ids) {
      const p = this.#cluster.process(id);
      if (p.status !== "up" || p.node === undefined || p.node.softState.lead === null) continue;
      candidates.push({ id, term: p.node.term, leader: p.node.softState.role === "leader" });
    }
    if (this.config.policy === "leader") {
      const leaders = candidates.filter((c) => c.leader);
      if (leaders.length === 0) return undefined;
      return leaders.reduce((a, b) => (b.term > a.term ? b : a)).id;
    }
    const others = candidates.filter((c) => c.id !== avoid);
    const pool = others.length > 0 ? others : candidates;
    return pool.length === 0 ? undefined : pool[this.#rng.int(pool.length)].id;
  }
}
