/**
 * The call router of one logical MCP service: the decisions of the call path,
 * without the I/O. It owns the replica set's evidence (health state machines,
 * circuit breakers, outlier detector, balancer statistics) and the rules that
 * read it (candidate selection, the balancing strategy, the retry rule gated on
 * tool annotations, hedging, the minority-partition rule). A driver — the
 * gateway with real backends, or the simulator with simulated ones — opens a
 * call, begins attempts on the replicas the router names, performs them, and
 * reports each outcome; the router answers with what to do next.
 *
 * The router keeps no table of calls: a call's state lives in the {@link Call}
 * handle the driver holds, so an abandoned call costs nothing here. Time and
 * randomness are arguments; state changes come out as {@link RouterEvent} data.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import {
  createStrategy,
  type ReplicaCandidate,
  selectCandidates,
  type StatsLookup,
  StatsTable,
  type StatsTableOptions,
  type Strategy,
  type StrategyName,
  type StrategyOptions,
} from "../balancer/mod.ts";
import {
  type BreakerPermit,
  type BreakerTransition,
  CircuitBreaker,
  type CircuitBreakerOptions,
  DEFAULT_MAX_ATTEMPTS,
  mayHedge,
  mayRunTwice,
  type MinorityPartitionError,
  OutcomeUnknownError,
  OutlierDetector,
  type OutlierDetectorOptions,
  type OutlierEvent,
  partitionVerdict,
  RetryBudget,
  type RetryBudgetOptions,
  retryDecision,
  type RetryReason,
} from "../resilience/mod.ts";
import {
  DEFAULT_HEALTH_POLICY,
  type HealthObservation,
  type HealthPolicy,
  type HealthState,
  type HealthTransition,
  initialHealth,
  observeHealth,
  validateHealthPolicy,
} from "../registry/mod.ts";
import { type Attempt, AttemptRecord, type Call, CallRecord, type CallRequest } from "./call.ts";
import {
  CallFailedError,
  NoReplicaAvailableError,
  type ReplicaExclusion,
  type ReplicaRoutingState,
  RoutingProtocolError,
} from "./errors.ts";
import { type AttemptOutcome, outcomeEvidence } from "./outcome.ts";

/** A member of the replica set. */
export interface RouterReplica {
  /** Replica id, unique across every router sharing a stats table. */
  readonly id: string;
  /** Names of the tools the replica offers (from its catalog). */
  readonly tools: readonly string[];
}

/** Tuning and collaborators of a {@link CallRouter}. */
export interface CallRouterOptions {
  /** The logical service, for error messages. */
  readonly serviceId: string;
  /** Randomness for the balancing strategy. */
  readonly rng: Rng;
  /** Balancing strategy, by name or as an instance. Default `"p2c-peak-ewma"`. */
  readonly strategy?: StrategyName | Strategy;
  /** Options for a strategy created by name. */
  readonly strategyOptions?: StrategyOptions;
  /** A stats table to share (e.g. one per gateway node), or options for a private one. */
  readonly stats?: StatsTable | StatsTableOptions;
  /** Circuit breaker tuning, one breaker per replica. */
  readonly breaker?: CircuitBreakerOptions;
  /** Outlier ejection tuning. */
  readonly outlier?: OutlierDetectorOptions;
  /** Health hysteresis. Default `DEFAULT_HEALTH_POLICY`. */
  readonly health?: HealthPolicy;
  /** Retry budget to share, options for a private one, or `null` for none. Default private. */
  readonly retryBudget?: RetryBudget | RetryBudgetOptions | null;
  /** Bound on attempts per call, retries and hedges included. Default 3. */
  readonly maxAttempts?: number;
  /** Hedge a repeat-safe call still unanswered this long after its attempt began; omit for none. */
  readonly hedgeDelayMs?: number;
  /** This gateway node's id, for minority-partition errors. Default `"local"`. */
  readonly nodeId?: string;
  /** Initial replica set. */
  readonly replicas?: readonly RouterReplica[];
  /** Caller's clock at construction (the initial replicas' health starts here). Default 0. */
  readonly nowMs?: number;
}

/** Most replicas one router holds. */
export const MAX_REPLICAS_PER_SET = 1_024;
/** Most undrained events kept; older ones are dropped (and counted). */
export const MAX_PENDING_ROUTER_EVENTS = 4_096;

/** A state change inside the router, as data for logs, metrics and registry updates. */
export type RouterEvent =
  | {
    readonly kind: "health";
    readonly replicaId: string;
    readonly transition: HealthTransition;
  }
  | {
    readonly kind: "breaker";
    readonly replicaId: string;
    readonly transition: BreakerTransition;
  }
  | { readonly kind: "outlier"; readonly event: OutlierEvent };

/** Counters of a router's activity, as plain data. */
export interface RouterMetrics {
  /** Calls opened. */
  calls: number;
  /** Attempts begun (first attempts, retries and hedges). */
  attempts: number;
  /** Retry verdicts given. */
  retries: number;
  /** Retried attempts begun on another replica. */
  failovers: number;
  /** Hedged attempts begun. */
  hedges: number;
  /** Calls that ended with a result. */
  succeeded: number;
  /** Calls that ended with the backend's own JSON-RPC error. */
  remoteErrors: number;
  /** Calls cancelled by the client. */
  cancelled: number;
  /** Calls that ended with an error from the router. */
  failed: number;
  /** Of those, calls whose outcome is unknown (never executed again). */
  outcomeUnknown: number;
  /** Of those, calls refused because no replica was available. */
  noReplica: number;
  /** Of those, calls refused by the minority-partition rule. */
  partitionRefusals: number;
  /** Attempts currently in flight. */
  inFlight: number;
  /** Health status changes. */
  healthTransitions: number;
  /** Circuit breaker state changes. */
  breakerTransitions: number;
  /** Outlier ejections. */
  ejections: number;
  /** Events dropped because nobody drained them. */
  eventsDropped: number;
}

/** The answer of {@link CallRouter.begin}. */
export type BeginResult =
  | { readonly ok: true; readonly attempt: Attempt }
  | {
    readonly ok: false;
    /** The call is over; return this to the client. Nothing was sent. */
    readonly error: NoReplicaAvailableError | MinorityPartitionError | OutcomeUnknownError;
  };

/** The answer of {@link CallRouter.complete}: what the driver does next. */
export type Verdict =
  | {
    /** The call is over with the attempt's own answer (or its cancellation). */
    readonly kind: "done";
    readonly outcome: "ok" | "remote-error" | "cancelled";
    /** Hedged siblings still in flight: cancel them, then complete each as `"cancelled"`. */
    readonly cancel: readonly Attempt[];
  }
  | {
    /** Call `begin` again; it will avoid the replicas already tried. */
    readonly kind: "retry";
    readonly reason: RetryReason;
  }
  | {
    /** The call is over; return this error to the client. */
    readonly kind: "fail";
    readonly error: OutcomeUnknownError | CallFailedError | NoReplicaAvailableError;
  }
  | {
    /** A hedged sibling is still in flight: wait for its outcome. */
    readonly kind: "pending";
  }
  | {
    /** The call was already over (a losing hedge); its evidence was recorded. */
    readonly kind: "settled";
  };

interface ReplicaRecord {
  readonly id: string;
  readonly incarnation: number;
  tools: readonly string[];
  health: HealthState;
  readonly breaker: CircuitBreaker;
}

/**
 * Routes the calls of one logical service over its replica set.
 *
 * Safety rule: a call whose tool is not annotated `readOnlyHint` or
 * `idempotentHint` is never sent twice once an attempt may have run: after an
 * `"unknown"` outcome it ends with an `OutcomeUnknownError`, it is never hedged,
 * and `begin` on a finished call throws.
 *
 * @example
 * ```ts
 * import { SeededRng } from "../rng.ts";
 * import { CallRouter } from "./mod.ts";
 * const router = new CallRouter({
 *   serviceId: "search",
 *   rng: new SeededRng(1),
 *   replicas: [{ id: "a", tools: ["find"] }, { id: "b", tools: ["find"] }],
 * });
 * const call = router.open({ toolName: "find", annotations: { readOnlyHint: true } }, 0);
 * for (;;) {
 *   const begun = router.begin(call, 0);
 *   if (!begun.ok) throw begun.error;
 *   // send the request to begun.attempt.replicaId, then report what happened:
 *   const verdict = router.complete(begun.attempt, "unknown", 30);
 *   if (verdict.kind === "retry") continue; // the next attempt goes to the other replica
 *   break;
 * }
 * ```
 */
export class CallRouter {
  /** The logical service. */
  readonly serviceId: string;
  readonly #rng: Rng;
  #strategy: Strategy;
  readonly #strategyOptions: StrategyOptions;
  readonly #stats: StatsTable;
  readonly #breakerOptions: CircuitBreakerOptions;
  readonly #outlier: OutlierDetector;
  readonly #healthPolicy: HealthPolicy;
  readonly #budget: RetryBudget | undefined;
  readonly #maxAttempts: number;
  readonly #hedgeDelayMs: number | undefined;
  readonly #nodeId: string;
  #replicas: ReplicaRecord[] = [];
  readonly #byId = new Map<string, ReplicaRecord>();
  #incarnations = 0;
  #callSeq = 0;
  #hasQuorum = true;
  #events: RouterEvent[] = [];
  readonly #metrics: RouterMetrics = {
    calls: 0,
    attempts: 0,
    retries: 0,
    failovers: 0,
    hedges: 0,
    succeeded: 0,
    remoteErrors: 0,
    cancelled: 0,
    failed: 0,
    outcomeUnknown: 0,
    noReplica: 0,
    partitionRefusals: 0,
    inFlight: 0,
    healthTransitions: 0,
    breakerTransitions: 0,
    ejections: 0,
    eventsDropped: 0,
  };

  /** Creates a router; throws `RangeError` on invalid tuning. */
  constructor(options: CallRouterOptions) {
    if (typeof options.serviceId !== "string" || options.serviceId.length === 0) {
      throw new RangeError("CallRouter: serviceId must be a non-empty string");
    }
    this.serviceId = options.serviceId;
    this.#rng = options.rng;
    this.#strategyOptions = options.strategyOptions ?? {};
    const strategy = options.strategy ?? "p2c-peak-ewma";
    this.#strategy = typeof strategy === "string"
      ? createStrategy(strategy, this.#strategyOptions)
      : strategy;
    this.#stats = options.stats instanceof StatsTable
      ? options.stats
      : new StatsTable(options.stats);
    this.#breakerOptions = options.breaker ?? {};
    // Built once here so that bad breaker options fail at construction, not on first use.
    new CircuitBreaker(this.#breakerOptions);
    this.#outlier = new OutlierDetector(options.outlier);
    this.#healthPolicy = validateHealthPolicy({ ...(options.health ?? DEFAULT_HEALTH_POLICY) });
    const budget = options.retryBudget;
    this.#budget = budget === null
      ? undefined
      : budget instanceof RetryBudget
      ? budget
      : new RetryBudget(budget);
    this.#maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isSafeInteger(this.#maxAttempts) || this.#maxAttempts < 1) {
      throw new RangeError(
        `CallRouter: maxAttempts must be an integer >= 1, got ${this.#maxAttempts}`,
      );
    }
    const hedgeDelayMs = options.hedgeDelayMs;
    if (hedgeDelayMs !== undefined && !(hedgeDelayMs >= 0 && Number.isFinite(hedgeDelayMs))) {
      throw new RangeError(`CallRouter: hedgeDelayMs must be finite and >= 0, got ${hedgeDelayMs}`);
    }
    this.#hedgeDelayMs = hedgeDelayMs;
    this.#nodeId = options.nodeId ?? "local";
    this.setReplicas(options.replicas ?? [], options.nowMs ?? 0);
  }

  /** The balancing strategy in use. */
  get strategy(): Strategy {
    return this.#strategy;
  }

  /** The balancer statistics (read-only view). */
  get stats(): StatsLookup {
    return this.#stats;
  }

  /** Whether this node currently reaches a quorum (see {@link setQuorum}). */
  get hasQuorum(): boolean {
    return this.#hasQuorum;
  }

  /** Number of replicas in the set. */
  get size(): number {
    return this.#replicas.length;
  }

  /** Switches the balancing strategy (a fresh instance, so no stale cursor or ring). */
  setStrategy(strategy: StrategyName | Strategy): void {
    this.#strategy = typeof strategy === "string"
      ? createStrategy(strategy, this.#strategyOptions)
      : strategy;
  }

  /**
   * Records whether this node reaches a Raft quorum. Without one it is in a minority
   * partition: only read-only or idempotent calls are routed, the rest are refused
   * with a `MinorityPartitionError` before anything is sent.
   */
  setQuorum(hasQuorum: boolean): void {
    this.#hasQuorum = hasQuorum;
  }

  /**
   * Sets the replica set. New replicas start with `unknown` health at `nowMs` and a
   * closed breaker; kept ones keep their evidence (and take the new tool list);
   * departed ones are forgotten, and attempts still in flight to them are settled
   * without touching the evidence of any later replica with the same id.
   */
  setReplicas(specs: readonly RouterReplica[], nowMs: number): void {
    if (specs.length > MAX_REPLICAS_PER_SET) {
      throw new RangeError(
        `CallRouter(${this.serviceId}): ${specs.length} replicas exceed the bound of ` +
          `${MAX_REPLICAS_PER_SET}`,
      );
    }
    const seen = new Set<string>();
    for (const spec of specs) {
      if (typeof spec.id !== "string" || spec.id.length === 0) {
        throw new RangeError(`CallRouter(${this.serviceId}): replica ids must be non-empty`);
      }
      if (seen.has(spec.id)) {
        throw new RangeError(`CallRouter(${this.serviceId}): replica "${spec.id}" listed twice`);
      }
      seen.add(spec.id);
    }
    for (const old of this.#replicas) {
      if (!seen.has(old.id)) {
        this.#byId.delete(old.id);
        this.#stats.remove(old.id);
      }
    }
    this.#replicas = specs.map((spec) => {
      const kept = this.#byId.get(spec.id);
      if (kept !== undefined) {
        kept.tools = [...spec.tools];
        return kept;
      }
      const record: ReplicaRecord = {
        id: spec.id,
        incarnation: ++this.#incarnations,
        tools: [...spec.tools],
        health: initialHealth(nowMs),
        breaker: new CircuitBreaker(this.#breakerOptions),
      };
      this.#byId.set(spec.id, record);
      return record;
    });
    this.#outlier.setReplicas(specs.map((s) => s.id));
  }

  /**
   * Feeds active evidence about a replica (probe results, transport connected or
   * disconnected) to its health state machine. Returns the status change, if any.
   */
  observe(replicaId: string, observation: HealthObservation): HealthTransition | null {
    const record = this.#byId.get(replicaId);
    if (record === undefined) {
      throw new RangeError(`CallRouter(${this.serviceId}): no replica "${replicaId}"`);
    }
    return this.#observeHealth(record, observation);
  }

  /**
   * The periodic sweep (every second or so): applies health transitions that the dwell
   * time held back and runs the outlier detector's interval (returns, error-rate
   * ejections, forgiveness).
   */
  tick(nowMs: number): void {
    for (const record of this.#replicas) {
      this.#observeHealth(record, { kind: "tick", atMs: nowMs });
    }
    for (const event of this.#outlier.evaluate(nowMs)) this.#outlierEvent(event);
  }

  /** Opens a call. Every opened call earns the retry budget its share of tokens. */
  open(request: CallRequest, nowMs: number): Call {
    assertTime(nowMs);
    this.#metrics.calls += 1;
    this.#budget?.onRequest(nowMs);
    this.#callSeq += 1;
    return new CallRecord(this, this.#callSeq, { ...request }, nowMs);
  }

  /**
   * Begins the next attempt of `call`: the first one, or the one after a `retry`
   * verdict. Picks among healthy (or, when none is, not-yet-judged) replicas that offer
   * the tool, are not ejected, have a breaker that admits the call and were not tried by
   * this call. When none qualifies, or the minority-partition rule refuses the call, the
   * call is over and the result carries the error; nothing is to be sent.
   *
   * Throws {@link RoutingProtocolError} if the call is over, has an attempt in flight,
   * or got no retry verdict for its last attempt: the router never begins an attempt
   * the rules did not allow.
   */
  begin(call: Call, nowMs: number): BeginResult {
    assertTime(nowMs);
    const record = this.#ownCall(call);
    if (record.closed) {
      throw new RoutingProtocolError(`call ${record.id} is over; it may not be begun again`);
    }
    if (record.outstanding.size > 0) {
      throw new RoutingProtocolError(
        `call ${record.id} has an attempt in flight; use hedge() for a parallel attempt`,
      );
    }
    if (record.attempts > 0 && !record.retryGranted) {
      throw new RoutingProtocolError(`call ${record.id} got no retry verdict`);
    }
    record.retryGranted = false;
    const verdict = partitionVerdict({
      nodeId: this.#nodeId,
      hasQuorum: this.#hasQuorum,
      request: {
        kind: "tool-call",
        toolName: record.request.toolName ?? "(request)",
        annotations: record.request.annotations,
      },
    });
    if (!verdict.allowed) {
      this.#metrics.partitionRefusals += 1;
      this.#close(record, "failed");
      return { ok: false, error: verdict.error };
    }
    const picked = this.#pick(record, nowMs);
    if (picked === undefined) {
      const error = this.#outOfReplicas(record, nowMs);
      this.#close(record, "failed");
      if (error instanceof OutcomeUnknownError) this.#metrics.outcomeUnknown += 1;
      return { ok: false, error };
    }
    if (record.attempts > 0) this.#metrics.failovers += 1;
    return { ok: true, attempt: this.#start(record, picked.replica, picked.permit, false, nowMs) };
  }

  /**
   * Begins a hedge: a parallel attempt of a call whose attempt is still in flight,
   * on a replica the call has not tried. Allowed only for read-only or idempotent
   * tools, within the attempt bound, and when the retry budget has a token (which it
   * spends). Returns `undefined` when the call may not be hedged now.
   */
  hedge(call: Call, nowMs: number): Attempt | undefined {
    assertTime(nowMs);
    const record = this.#ownCall(call);
    if (record.closed || record.outstanding.size === 0) return undefined;
    if (record.attempts >= this.#maxAttempts) return undefined;
    if (!mayRunTwice(record.request.annotations)) return undefined;
    const candidates = this.#candidates(record, nowMs);
    if (candidates.length === 0) return undefined;
    const id = this.#strategy.pick(candidates, this.#stats, this.#rng, {
      nowMs,
      key: record.request.affinityKey,
    });
    const replica = id === undefined ? undefined : this.#byId.get(id);
    if (replica === undefined) return undefined;
    if (!mayHedge({ annotations: record.request.annotations, budget: this.#budget, nowMs })) {
      return undefined;
    }
    const permit = replica.breaker.acquire(nowMs);
    if (!permit.allowed) return undefined;
    this.#metrics.hedges += 1;
    return this.#start(record, replica, permit, true, nowMs);
  }

  /**
   * Settles an attempt with what the driver saw and returns what to do next. Feeds the
   * outcome to the balancer stats, the replica's breaker, the outlier detector and the
   * health state machine, then applies the retry rule: `retry` only when the tool is
   * repeat-safe (or the request was never sent), attempts and budget remain, and an
   * untried replica is available; `fail` with an `OutcomeUnknownError` when the outcome
   * is unknown and the call may not run again.
   */
  complete(attempt: Attempt, outcome: AttemptOutcome, nowMs: number): Verdict {
    assertTime(nowMs);
    const record = this.#ownAttempt(attempt);
    if (record.settled) {
      throw new RoutingProtocolError(
        `attempt ${record.attempt} of call ${record.callId} was already completed`,
      );
    }
    const evidence = outcomeEvidence(outcome);
    record.settled = true;
    this.#metrics.inFlight -= 1;
    const call = record.call;
    call.outstanding.delete(record);
    this.#record(record, outcome, nowMs);
    if (call.closed) return { kind: "settled" };
    if (outcome === "ok" || outcome === "remote-error") {
      const cancel = [...call.outstanding];
      this.#close(call, outcome);
      return { kind: "done", outcome, cancel };
    }
    if (call.outstanding.size > 0) return { kind: "pending" };
    if (outcome === "cancelled") {
      this.#close(call, "cancelled");
      return { kind: "done", outcome, cancel: [] };
    }
    if (evidence.replicaOk !== false) {
      throw new Error(`CallRouter: outcome ${outcome} reached the retry rule`);
    }
    call.lastOutcome = outcome;
    call.lastReplicaId = record.replicaId;
    return this.#afterFailure(call, outcome, nowMs);
  }

  /** Each replica's routing-relevant state at `nowMs`, judged for `call` when given. */
  replicaStates(nowMs: number, call?: Call): ReplicaRoutingState[] {
    const record = call === undefined ? undefined : this.#ownCall(call);
    return this.#replicas.map((r) => ({
      replicaId: r.id,
      health: r.health.status,
      breaker: r.breaker.state,
      ejected: this.#outlier.isEjected(r.id, nowMs),
      exclusion: this.#exclusion(r, record, nowMs),
    }));
  }

  /** A copy of the counters. */
  metrics(): RouterMetrics {
    return { ...this.#metrics };
  }

  /** Takes the events recorded since the last call (oldest first). */
  takeEvents(): RouterEvent[] {
    const events = this.#events;
    this.#events = [];
    return events;
  }

  #afterFailure(
    call: CallRecord,
    outcome: "not-sent" | "failed" | "unknown",
    nowMs: number,
  ): Verdict {
    const base = {
      annotations: call.request.annotations,
      attempt: call.attempts,
      outcome,
      maxAttempts: this.#maxAttempts,
      toolName: call.request.toolName,
    };
    // The rule first without the budget, so that no token is spent on a retry that
    // would find no replica to go to.
    let decision = retryDecision(base);
    if (decision.retry && this.#candidates(call, nowMs).length === 0) {
      return this.#fail(call, this.#outOfReplicas(call, nowMs));
    }
    if (decision.retry && this.#budget !== undefined) {
      decision = retryDecision({ ...base, budget: this.#budget, nowMs });
    }
    if (!decision.retry) {
      return this.#fail(
        call,
        decision.error ??
          new CallFailedError(
            this.serviceId,
            call.request.toolName,
            call.attempts,
            outcome,
            call.lastReplicaId ?? "",
            decision.reason,
          ),
      );
    }
    call.retryGranted = true;
    this.#metrics.retries += 1;
    return { kind: "retry", reason: decision.reason };
  }

  #fail(
    call: CallRecord,
    error: OutcomeUnknownError | CallFailedError | NoReplicaAvailableError,
  ): Verdict {
    if (error instanceof OutcomeUnknownError) this.#metrics.outcomeUnknown += 1;
    this.#close(call, "failed");
    return { kind: "fail", error };
  }

  #outOfReplicas(call: CallRecord, nowMs: number): NoReplicaAvailableError | OutcomeUnknownError {
    if (call.lastOutcome === "unknown") {
      return new OutcomeUnknownError(
        call.request.toolName,
        call.attempts,
        mayRunTwice(call.request.annotations),
      );
    }
    this.#metrics.noReplica += 1;
    return new NoReplicaAvailableError(
      this.serviceId,
      call.request.toolName,
      call.attempts,
      call.lastOutcome,
      this.replicaStates(nowMs, call),
    );
  }

  #close(call: CallRecord, how: "ok" | "remote-error" | "cancelled" | "failed"): void {
    call.closed = true;
    call.retryGranted = false;
    switch (how) {
      case "ok":
        this.#metrics.succeeded += 1;
        break;
      case "remote-error":
        this.#metrics.remoteErrors += 1;
        break;
      case "cancelled":
        this.#metrics.cancelled += 1;
        break;
      case "failed":
        this.#metrics.failed += 1;
        break;
    }
  }

  #start(
    call: CallRecord,
    replica: ReplicaRecord,
    permit: BreakerPermit,
    hedge: boolean,
    nowMs: number,
  ): AttemptRecord {
    call.attempts += 1;
    call.tried.add(replica.id);
    if (permit.allowed && permit.transition !== undefined) {
      this.#breakerEvent(replica.id, permit.transition);
    }
    const hedgeAtMs = this.#hedgeDelayMs !== undefined && call.attempts < this.#maxAttempts &&
        mayRunTwice(call.request.annotations)
      ? nowMs + this.#hedgeDelayMs
      : undefined;
    const attempt = new AttemptRecord(
      call,
      replica.id,
      replica.incarnation,
      hedge,
      permit,
      nowMs,
      hedgeAtMs,
    );
    call.outstanding.add(attempt);
    this.#stats.onStart(replica.id, nowMs);
    this.#metrics.attempts += 1;
    this.#metrics.inFlight += 1;
    return attempt;
  }

  #record(attempt: AttemptRecord, outcome: AttemptOutcome, nowMs: number): void {
    const replica = this.#byId.get(attempt.replicaId);
    // The replica left the set (and maybe came back as a new one) while this was in
    // flight: its evidence belongs to a replica that no longer exists.
    if (replica === undefined || replica.incarnation !== attempt.incarnation) return;
    const { replicaOk, latencySample } = outcomeEvidence(outcome);
    if (latencySample) {
      const latencyMs = Math.max(0, nowMs - attempt.startedAtMs);
      this.#stats.onFinish(replica.id, nowMs, latencyMs, replicaOk === true);
    } else {
      this.#stats.onAbandon(replica.id, nowMs);
    }
    const permit = attempt.permit;
    if (replicaOk === undefined) {
      replica.breaker.onCancel(permit);
      return;
    }
    const transition = replicaOk
      ? replica.breaker.onSuccess(permit, nowMs)
      : replica.breaker.onFailure(permit, nowMs);
    if (transition !== undefined) this.#breakerEvent(replica.id, transition);
    const ejection = this.#outlier.onResult(replica.id, replicaOk, nowMs);
    if (ejection !== undefined) this.#outlierEvent(ejection);
    this.#observeHealth(replica, {
      kind: "call",
      atMs: nowMs,
      ok: replicaOk,
      reason: replicaOk ? undefined : `call ${outcome}`,
    });
  }

  #pick(
    call: CallRecord,
    nowMs: number,
  ): { replica: ReplicaRecord; permit: BreakerPermit } | undefined {
    const refused = new Set<string>();
    // Bounded: every round either returns or refuses one more replica.
    for (let round = 0; round <= this.#replicas.length; round++) {
      const candidates = this.#candidates(call, nowMs, refused);
      const id = this.#strategy.pick(candidates, this.#stats, this.#rng, {
        nowMs,
        key: call.request.affinityKey,
      });
      if (id === undefined) return undefined;
      const replica = this.#byId.get(id);
      if (replica === undefined) {
        throw new Error(`CallRouter: strategy picked "${id}", which is not a candidate`);
      }
      const permit = replica.breaker.acquire(nowMs);
      if (permit.allowed) return { replica, permit };
      refused.add(id);
    }
    return undefined;
  }

  /**
   * The replicas `call` may go to: healthy ones that offer the tool, are not ejected,
   * have an admitting breaker and were not tried; when none is healthy, the same among
   * those whose health is not judged yet (`unknown`), so a fresh set can serve.
   */
  #candidates(call: CallRecord, nowMs: number, refused?: ReadonlySet<string>): string[] {
    const toolName = call.request.toolName;
    const facts = (status: "healthy" | "unknown"): ReplicaCandidate[] =>
      this.#replicas.map((r) => ({
        id: r.id,
        healthy: r.health.status === status && r.breaker.isAvailable(nowMs),
        ejected: call.tried.has(r.id) || refused?.has(r.id) === true ||
          this.#outlier.isEjected(r.id, nowMs),
        tools: r.tools,
      }));
    const healthy = selectCandidates(facts("healthy"), toolName);
    return healthy.length > 0 ? healthy : selectCandidates(facts("unknown"), toolName);
  }

  #exclusion(r: ReplicaRecord, call: CallRecord | undefined, nowMs: number): ReplicaExclusion {
    if (call?.tried.has(r.id)) return "already-tried";
    const toolName = call?.request.toolName;
    if (toolName !== undefined && !r.tools.includes(toolName)) return "tool-not-offered";
    if (r.health.status !== "healthy" && r.health.status !== "unknown") return "health";
    if (this.#outlier.isEjected(r.id, nowMs)) return "ejected";
    if (!r.breaker.isAvailable(nowMs)) return "breaker-open";
    return "available";
  }

  #observeHealth(record: ReplicaRecord, observation: HealthObservation): HealthTransition | null {
    const step = observeHealth(record.health, observation, this.#healthPolicy);
    record.health = step.state;
    if (step.transition !== null) {
      this.#metrics.healthTransitions += 1;
      this.#push({ kind: "health", replicaId: record.id, transition: step.transition });
    }
    return step.transition;
  }

  #breakerEvent(replicaId: string, transition: BreakerTransition): void {
    this.#metrics.breakerTransitions += 1;
    this.#push({ kind: "breaker", replicaId, transition });
  }

  #outlierEvent(event: OutlierEvent): void {
    if (event.kind === "ejected") this.#metrics.ejections += 1;
    this.#push({ kind: "outlier", event });
  }

  #push(event: RouterEvent): void {
    if (this.#events.length >= MAX_PENDING_ROUTER_EVENTS) {
      this.#events.shift();
      this.#metrics.eventsDropped += 1;
    }
    this.#events.push(event);
  }

  #ownCall(call: Call): CallRecord {
    if (!(call instanceof CallRecord) || call.owner !== this) {
      throw new RoutingProtocolError(`call ${call.id} was not opened by this router`);
    }
    return call;
  }

  #ownAttempt(attempt: Attempt): AttemptRecord {
    if (!(attempt instanceof AttemptRecord) || attempt.call.owner !== this) {
      throw new RoutingProtocolError(`attempt of call ${attempt.callId} is not from this router`);
    }
    return attempt;
  }
}

function assertTime(nowMs: number): void {
  if (!Number.isFinite(nowMs) || nowMs < 0) {
    throw new RangeError(`CallRouter: nowMs must be finite and >= 0, got ${nowMs}`);
  }
}
