/**
 * Prometheus metrics of one node (`GET /metrics`), on `prom-client` (which
 * runs under Deno unchanged): the gateway's calls, attempts and replicas,
 * 2025 sessions, and, on a cluster node, Raft and the replicated KV store.
 *
 * Events on the call path ({@link CallObserver}) update counters and
 * histograms as they happen; everything that is state (roles, indexes,
 * replica health, breakers) is read from its owner when scraped, so it can
 * never drift from what `/admin/status` says.
 *
 * Label values come from the config (services, replicas, node ids) except
 * tool names, which backends choose: at most {@link MAX_TOOLS_PER_SERVICE}
 * distinct tools per service get a series of their own, the rest share
 * `tool="_other"`.
 *
 * @module
 */
import client from "prom-client";
import type { Context, MiddlewareHandler } from "hono";
import { ADMIN_SCOPE, hasScope } from "@safla/core/access";
import type { Authenticator } from "../auth/authenticator.ts";
import { refusalResponse } from "../auth/middleware.ts";
import type { AttemptOutcome } from "@safla/core/routing";
import type { HostListener, HostStatus } from "@safla/transports/host";
import type { Gateway } from "../gateway/gateway.ts";
import type { AttemptKind, CallEnd, CallObserver } from "../gateway/call_observer.ts";

/** Distinct tool label values kept per service (backends choose tool names). */
export const MAX_TOOLS_PER_SERVICE = 200;

/** Latency buckets in seconds, from a loopback hop to a slow tool. */
const CALL_BUCKETS_S = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];
/** Label children kept per kind of series (the labels themselves are bounded too). */
const MAX_CACHED_SERIES = 10_000;

/** A counter's and a histogram's children for one label set. */
interface Series {
  count: client.Counter.Internal;
  seconds: client.Histogram.Internal<string>;
}

/** WAL write (and fsync) buckets in seconds. */
const DISK_BUCKETS_S = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  1,
];

const BACKEND_STATES = ["connecting", "ready", "unhealthy", "backoff", "closed"] as const;
const BREAKER_STATES = ["closed", "open", "half-open"] as const;

/** The parts of a Raft node the metrics read; a standalone gateway has none. */
export interface RaftSource {
  status(): HostStatus;
  listen(listener: HostListener): () => void;
  readonly store: {
    readonly revision: number;
    readonly size: number;
    readonly compactRevision: number;
    readonly history: { readonly size: number };
  };
}

/** What {@link NodeMetrics} reads at scrape time. */
export interface MetricsSources {
  /** This node's id (a label on every series of a cluster node). */
  nodeId?: string;
  raft?: RaftSource;
  /** Open 2025 sessions, and how many hold a notification stream. */
  sessions?: () => { open: number; listening: number };
}

interface ReplicaStatus {
  id: string;
  state: string;
  restarts: number;
  routing?: { health?: string; breaker?: string; ejected?: boolean };
  stats?: { outstanding?: number; ewmaLatencyMs?: number };
}

/** The metrics of one node; also the gateway's {@link CallObserver}. */
export class NodeMetrics implements CallObserver {
  readonly registry = new client.Registry();
  readonly #toolLabels = new Map<string, Set<string>>();
  readonly #calls: client.Counter<"service" | "tool" | "outcome">;
  readonly #callSeconds: client.Histogram<"service" | "tool">;
  readonly #attempts: client.Counter<"service" | "replica" | "kind">;
  readonly #attemptResults: client.Counter<"service" | "replica" | "outcome">;
  readonly #attemptSeconds: client.Histogram<"service" | "replica">;
  readonly #stateChanges: client.Counter<"service" | "replica" | "state">;
  // prom-client hashes a label object on every update; its children skip that.
  readonly #callSeries = new Map<string, Series>();
  readonly #attemptSeries = new Map<string, client.Counter.Internal>();
  readonly #resultSeries = new Map<string, Series>();
  #gateway: Gateway | undefined;
  #stopListening: (() => void) | undefined;

  /** Registers every metric; `sources` are read when scraped. */
  constructor(sources: MetricsSources = {}) {
    const registers = [this.registry];
    if (sources.nodeId !== undefined) this.registry.setDefaultLabels({ node: sources.nodeId });
    this.#calls = new client.Counter({
      name: "safla_calls_total",
      help: "Calls forwarded to a service, by tool (or method) and how they ended",
      labelNames: ["service", "tool", "outcome"],
      registers,
    });
    this.#callSeconds = new client.Histogram({
      name: "safla_call_duration_seconds",
      help: "Time from receiving a forwarded call to its answer, retries and hedges included",
      labelNames: ["service", "tool"],
      buckets: CALL_BUCKETS_S,
      registers,
    });
    this.#attempts = new client.Counter({
      name: "safla_attempts_total",
      help: "Replicas chosen by the balancer: first attempts, retries after a failure, hedges",
      labelNames: ["service", "replica", "kind"],
      registers,
    });
    this.#attemptResults = new client.Counter({
      name: "safla_attempt_results_total",
      help: "Attempts on a replica by outcome (ok, remote-error, not-sent, failed, unknown, …)",
      labelNames: ["service", "replica", "outcome"],
      registers,
    });
    this.#attemptSeconds = new client.Histogram({
      name: "safla_attempt_duration_seconds",
      help: "Time one attempt on a replica took",
      labelNames: ["service", "replica"],
      buckets: CALL_BUCKETS_S,
      registers,
    });
    this.#stateChanges = new client.Counter({
      name: "safla_replica_state_changes_total",
      help: "Times a replica's backend connection entered a state",
      labelNames: ["service", "replica", "state"],
      registers,
    });
    this.#registerReplicaGauges();
    if (sources.sessions) this.#registerSessions(sources.sessions);
    if (sources.raft) this.#registerRaft(sources.raft);
  }

  /** Reads replica state from `gateway` at scrape time. */
  attach(gateway: Gateway): void {
    this.#gateway = gateway;
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  /** Stops listening to the Raft node. */
  close(): void {
    this.#stopListening?.();
  }

  callEnded(service: string, target: string, end: CallEnd, durationMs: number): void {
    const key = `${service}\u0000${target}\u0000${end}`;
    let series = this.#callSeries.get(key);
    if (series === undefined) {
      const tool = this.#toolLabel(service, target);
      series = {
        count: this.#calls.labels(service, tool, end),
        seconds: this.#callSeconds.labels(service, tool),
      };
      // Bounded like the labels: past the cap a target shares `_other`'s children.
      if (this.#callSeries.size < MAX_CACHED_SERIES) this.#callSeries.set(key, series);
    }
    series.count.inc();
    series.seconds.observe(durationMs / 1000);
  }

  attemptStarted(service: string, replica: string, kind: AttemptKind): void {
    const key = `${service}\u0000${replica}\u0000${kind}`;
    let child = this.#attemptSeries.get(key);
    if (child === undefined) {
      child = this.#attempts.labels(service, replica, kind);
      if (this.#attemptSeries.size < MAX_CACHED_SERIES) this.#attemptSeries.set(key, child);
    }
    child.inc();
  }

  attemptEnded(service: string, replica: string, outcome: AttemptOutcome, durationMs: number) {
    const key = `${service}\u0000${replica}\u0000${outcome}`;
    let series = this.#resultSeries.get(key);
    if (series === undefined) {
      series = {
        count: this.#attemptResults.labels(service, replica, outcome),
        seconds: this.#attemptSeconds.labels(service, replica),
      };
      if (this.#resultSeries.size < MAX_CACHED_SERIES) this.#resultSeries.set(key, series);
    }
    series.count.inc();
    series.seconds.observe(durationMs / 1000);
  }

  replicaStateChanged(service: string, replica: string, state: string): void {
    this.#stateChanges.inc({ service, replica, state });
  }

  #toolLabel(service: string, tool: string): string {
    let seen = this.#toolLabels.get(service);
    if (seen === undefined) this.#toolLabels.set(service, seen = new Set());
    if (seen.has(tool)) return tool;
    if (seen.size >= MAX_TOOLS_PER_SERVICE) return "_other";
    seen.add(tool);
    return tool;
  }

  #replicas(): { service: string; replica: ReplicaStatus }[] {
    const status = this.#gateway?.status() as
      | { services?: { name: string; replicas: ReplicaStatus[] }[] }
      | undefined;
    return (status?.services ?? []).flatMap((s) =>
      s.replicas.map((replica) => ({ service: s.name, replica }))
    );
  }

  #registerReplicaGauges(): void {
    const registers = [this.registry];
    // One read of the gateway's status serves every replica gauge of a scrape.
    let cached: { atMs: number; rows: { service: string; replica: ReplicaStatus }[] } | undefined;
    const rows = () => {
      const now = performance.now();
      if (cached === undefined || now - cached.atMs > 100) {
        cached = { atMs: now, rows: this.#replicas() };
      }
      return cached.rows;
    };
    /** A gauge that is 1 for the state `stateOf` a replica is in and 0 for the others. */
    const oneHot = (
      name: string,
      help: string,
      states: readonly string[],
      stateOf: (r: ReplicaStatus) => string | undefined,
    ) =>
      new client.Gauge({
        name,
        help,
        labelNames: ["service", "replica", "state"],
        registers,
        collect() {
          this.reset();
          for (const { service, replica } of rows()) {
            const current = stateOf(replica);
            if (current === undefined) continue;
            for (const state of states) {
              this.set({ service, replica: replica.id, state }, state === current ? 1 : 0);
            }
          }
        },
      });
    /** A gauge (or, for `_total` names, a counter) of one number per replica. */
    const perReplica = (name: string, help: string, valueOf: (r: ReplicaStatus) => number) => {
      const Metric = name.endsWith("_total") ? client.Counter : client.Gauge;
      return new Metric({
        name,
        help,
        labelNames: ["service", "replica"],
        registers,
        collect(this: client.Gauge | client.Counter) {
          this.reset();
          for (const { service, replica } of rows()) {
            const value = valueOf(replica);
            const labels = { service, replica: replica.id };
            if (this instanceof client.Gauge) this.set(labels, value);
            else this.inc(labels, value);
          }
        },
      });
    };
    oneHot(
      "safla_replica_state",
      "1 for the state a replica's backend connection is in, 0 for the others",
      BACKEND_STATES,
      (r) => r.state,
    );
    oneHot(
      "safla_replica_breaker_state",
      "1 for the state a replica's circuit breaker is in, 0 for the others",
      BREAKER_STATES,
      (r) => r.routing?.breaker,
    );
    perReplica(
      "safla_replica_ejected",
      "1 while outlier detection keeps a replica out of the rotation",
      (r) => r.routing?.ejected ? 1 : 0,
    );
    perReplica(
      "safla_replica_calls_in_flight",
      "Attempts sent to a replica and not yet answered",
      (r) => r.stats?.outstanding ?? 0,
    );
    perReplica(
      "safla_backend_restarts_total",
      "Times a replica's backend was started again after it ended or failed",
      (r) => r.restarts,
    );
  }

  #registerSessions(sessions: () => { open: number; listening: number }): void {
    new client.Gauge({
      name: "safla_sessions",
      help: "Open 2025-era client sessions on this node (2026-07-28 clients hold none)",
      labelNames: ["era"],
      registers: [this.registry],
      collect() {
        this.set({ era: "2025" }, sessions().open);
      },
    });
    new client.Gauge({
      name: "safla_session_streams",
      help: "2025-era sessions whose client holds the GET stream for notifications",
      registers: [this.registry],
      collect() {
        this.set(sessions().listening);
      },
    });
  }

  #registerRaft(raft: RaftSource): void {
    const registers = [this.registry];
    const leaderChanges = new client.Counter({
      name: "safla_raft_leader_changes_total",
      help: "Times this node saw the leader (or its own role) change",
      registers,
    });
    const diskSeconds = new client.Histogram({
      name: "safla_raft_wal_write_duration_seconds",
      help: "WAL writes, with their fsync where one was required",
      labelNames: ["synced"],
      buckets: DISK_BUCKETS_S,
      registers,
    });
    const walEntries = new client.Counter({
      name: "safla_raft_wal_entries_total",
      help: "Log entries written to the WAL",
      registers,
    });
    const snapshots = new client.Counter({
      name: "safla_raft_snapshots_total",
      help: "Snapshots made durable on this node",
      registers,
    });
    const snapshotBytes = new client.Gauge({
      name: "safla_raft_snapshot_size_bytes",
      help: "Size of the newest durable snapshot",
      registers,
    });
    this.#stopListening = raft.listen({
      onRoleChanged: () => leaderChanges.inc(),
      onPersisted: (durationMs, entries, synced) => {
        diskSeconds.observe({ synced: synced ? "true" : "false" }, durationMs / 1000);
        walEntries.inc(entries);
      },
      onSnapshotSaved: (_index, sizeBytes) => {
        snapshots.inc();
        snapshotBytes.set(sizeBytes);
      },
    });
    let cached: { atMs: number; status: HostStatus } | undefined;
    const status = (): HostStatus => {
      const now = performance.now();
      if (cached === undefined || now - cached.atMs > 100) {
        cached = { atMs: now, status: raft.status() };
      }
      return cached.status;
    };
    const gauge = (name: string, help: string, read: () => number) =>
      new client.Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge("safla_raft_term", "Current Raft term", () => status().term);
    gauge("safla_raft_is_leader", "1 on the leader", () => status().role === "leader" ? 1 : 0);
    gauge(
      "safla_raft_has_leader",
      "1 while this node knows a leader",
      () => status().leader === null ? 0 : 1,
    );
    gauge(
      "safla_raft_commit_index",
      "Highest log index known committed",
      () => status().commitIndex,
    );
    gauge(
      "safla_raft_applied_index",
      "Highest log index applied to the KV store",
      () => status().appliedIndex,
    );
    gauge("safla_raft_last_index", "Last index in the durable log", () => status().lastIndex);
    gauge(
      "safla_raft_pending_proposals",
      "Client requests waiting for commit or a read",
      () => status().pendingRequests,
    );
    gauge(
      "safla_raft_snapshot_index",
      "Log index of the newest snapshot",
      () => status().snapshot.index,
    );
    gauge(
      "safla_raft_voters",
      "Voters in the active configuration",
      () => status().members.voters.length,
    );
    gauge(
      "safla_raft_learners",
      "Learners in the active configuration",
      () => status().members.learners.length,
    );
    // The peer listener's defences at work (issue 11): strangers in their handshake, evicted, refused.
    gauge(
      "safla_peer_handshakes_in_progress",
      "Inbound peer connections not yet authenticated",
      () => status().peerInbound.unauthenticated,
    );
    for (
      const [name, help, read] of [
        ["evicted", "closed to make room for newer ones", () => status().peerInbound.evicted],
        [
          "rejected",
          "closed for a failed handshake or a protocol breach",
          () => status().peerInbound.rejected,
        ],
      ] as const
    ) {
      new client.Counter({
        name: `safla_peer_connections_${name}_total`,
        help: `Inbound peer connections ${help}`,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    }
    new client.Gauge({
      name: "safla_raft_peer_connected",
      help: "1 while the link to a peer is up",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const [peer, link] of Object.entries(status().peers)) {
          this.set({ peer }, link.connected ? 1 : 0);
        }
      },
    });
    new client.Gauge({
      name: "safla_raft_peer_queued_messages",
      help: "Messages waiting to be sent to a peer",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const [peer, link] of Object.entries(status().peers)) this.set({ peer }, link.queued);
      },
    });
    new client.Counter({
      name: "safla_raft_peer_dropped_messages_total",
      help: "Messages to a peer dropped (queue full, link down, or over the frame limit)",
      labelNames: ["peer"],
      registers,
      collect() {
        this.reset();
        for (const [peer, link] of Object.entries(status().peers)) {
          this.inc({ peer }, link.dropped);
        }
      },
    });
    gauge("safla_kv_revision", "Revision of the replicated KV store", () => raft.store.revision);
    gauge("safla_kv_keys", "Live keys in the replicated KV store", () => raft.store.size);
    gauge(
      "safla_kv_compact_revision",
      "Revision up to which the KV history was compacted",
      () => raft.store.compactRevision,
    );
    gauge(
      "safla_kv_history_events",
      "Events kept in the KV history for watchers",
      () => raft.store.history.size,
    );
  }
}

/** The `GET /metrics` handler: the exposition text of `metrics`. */
export function metricsRoute(metrics: NodeMetrics): (c: Context) => Promise<Response> {
  return async (c) => {
    const { body, contentType } = await metrics.render();
    return c.body(body, 200, { "content-type": contentType });
  };
}

/** The scope a scraper needs once authentication is on (admins have it implicitly). */
export const METRICS_SCOPE = "safla:metrics";

/**
 * Who may scrape: anyone who passed the Host/Origin guard on a node without
 * authentication (which listens on loopback only unless told otherwise), else
 * a caller holding {@link METRICS_SCOPE} or the admin scope — e.g. an API key
 * given to Prometheus (`authorization` in its scrape config).
 */
export function metricsAccess(auth: Authenticator | undefined): MiddlewareHandler {
  if (auth === undefined) return async (_c, next) => await next();
  return async (c, next) => {
    const outcome = await auth.authenticate(c.req.raw.headers.get("authorization"));
    if ("refusal" in outcome) return refusalResponse(auth.config, outcome.refusal);
    const principal = outcome.principal;
    if (!hasScope(principal, METRICS_SCOPE) && !hasScope(principal, ADMIN_SCOPE)) {
      return c.json(
        {
          error: "insufficient_scope",
          error_description: `scraping needs the scope ${METRICS_SCOPE}`,
        },
        403,
        { "www-authenticate": `Bearer error="insufficient_scope", scope="${METRICS_SCOPE}"` },
      );
    }
    await next();
  };
}
