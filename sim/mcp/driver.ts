/**
 * The simulated gateway data path: runs MCP tool calls through the production
 * {@link CallExecutor} (the same call loop the gateway drives) and performs its
 * effects against simulated backends, over virtual time. Everything a real
 * driver does is here and nothing more: send, wait with a request timeout,
 * notice a dropped connection, probe, tick, set the timer it asks for, cancel
 * what it says to cancel. Every routing decision is the router's; every step of
 * a call's life is the executor's.
 *
 * @module
 */
import type { ToolSafetyHints } from "@safla/core/resilience";
import {
  type Attempt,
  type AttemptOutcome,
  type CallEffect,
  CallExecutor,
  type CallRouter,
} from "@safla/core/routing";
import type { Scheduler } from "../scheduler.ts";
import type { BackendReply, SimBackend } from "./backend.ts";

/** Timing of the simulated transport and housekeeping. */
export interface McpDriverOptions {
  /** An attempt without a reply after this long ends as `"unknown"`. */
  readonly requestTimeoutMs: number;
  /** One-way network delay between gateway and backend. */
  readonly networkDelayMs: number;
  /** Time for the transport to notice a dead process (connection reset). */
  readonly detectDisconnectMs: number;
  /** Period of active health probes. */
  readonly probeIntervalMs: number;
  /** Period of the router's housekeeping tick. */
  readonly tickIntervalMs: number;
  /** Whether to hedge when an attempt carries a hedge time. */
  readonly hedging: boolean;
}

/** Sensible defaults: 1 s timeout, 0.25 ms links, 1 s probes and ticks, no hedging. */
export const DEFAULT_DRIVER_OPTIONS: McpDriverOptions = Object.freeze({
  requestTimeoutMs: 1_000,
  networkDelayMs: 0.25,
  detectDisconnectMs: 5,
  probeIntervalMs: 1_000,
  tickIntervalMs: 1_000,
  hedging: false,
});

/** A tool call as the workload issues it. */
export interface SimToolCall {
  /** Tool name. */
  readonly toolName: string;
  /** The tool's annotations. */
  readonly annotations?: ToolSafetyHints;
  /** The client gives up this long after issuing the call (as an MCP cancellation). */
  readonly cancelAfterMs?: number;
}

/** How a call ended, as the client saw it. */
export interface SimCallResult {
  /** The router's call id. */
  readonly callId: number;
  /** Tool name. */
  readonly toolName: string;
  /** Whether the tool is read-only or idempotent. */
  readonly repeatSafe: boolean;
  /** When the client issued it (virtual ms). */
  readonly openedMs: number;
  /** Client-visible latency. */
  readonly latencyMs: number;
  /** `"ok"`, `"remote-error"`, `"cancelled"`, or the name of the error class returned. */
  readonly result: string;
  /** Outcome of every attempt, in completion order. */
  readonly outcomes: readonly AttemptOutcome[];
}

/** Router events tallied per replica. */
export interface ReplicaEventCounts {
  /** Health status changes. */
  health: number;
  /** Breaker state changes. */
  breaker: number;
  /** Outlier ejections. */
  ejections: number;
}

interface Connection {
  readonly backend: SimBackend;
  connected: boolean;
  readonly inFlight: Set<Flight>;
}

interface Flight {
  readonly state: CallState;
  readonly attempt: Attempt;
  readonly connection: Connection;
  settled: boolean;
}

interface CallState {
  readonly executor: CallExecutor;
  readonly request: SimToolCall;
  readonly openedMs: number;
  readonly outcomes: AttemptOutcome[];
  readonly onEnd: ((result: SimCallResult) => void) | undefined;
  /** Bumped by every set or clear, so a superseded timer finds itself stale when it fires. */
  timerGeneration: number;
}

/** Most calls one driver records, to keep a runaway scenario bounded. */
export const MAX_RECORDED_CALLS = 1_000_000;

/**
 * Drives one router over simulated backends on a shared scheduler.
 *
 * @example
 * ```ts
 * // See scenarios.ts: build a Scheduler, SimBackends and a CallRouter, then
 * // const driver = new McpDriver(scheduler, router, backends, DEFAULT_DRIVER_OPTIONS);
 * // driver.startHousekeeping(untilMs); driver.call({ toolName: "search" });
 * ```
 */
export class McpDriver {
  readonly #scheduler: Scheduler;
  readonly #router: CallRouter;
  readonly #options: McpDriverOptions;
  readonly #connections = new Map<string, Connection>();
  readonly #flights = new Map<Attempt, Flight>();
  readonly #results: SimCallResult[] = [];
  readonly #attemptsByReplica = new Map<string, number>();
  readonly #events = new Map<string, ReplicaEventCounts>();

  /** Creates the driver; every backend must be a member of the router's replica set. */
  constructor(
    scheduler: Scheduler,
    router: CallRouter,
    backends: readonly SimBackend[],
    options: McpDriverOptions,
  ) {
    this.#scheduler = scheduler;
    this.#router = router;
    this.#options = options;
    for (const backend of backends) {
      this.#connections.set(backend.id, { backend, connected: true, inFlight: new Set() });
      this.#attemptsByReplica.set(backend.id, 0);
      this.#events.set(backend.id, { health: 0, breaker: 0, ejections: 0 });
    }
  }

  /** Virtual time in ms. */
  get nowMs(): number {
    return this.#scheduler.nowUs / 1000;
  }

  /** Every finished call, in completion order. */
  get results(): readonly SimCallResult[] {
    return this.#results;
  }

  /** Attempts sent to each replica. */
  get attemptsByReplica(): ReadonlyMap<string, number> {
    return this.#attemptsByReplica;
  }

  /** Router events per replica, tallied so far. */
  eventCounts(): ReadonlyMap<string, ReplicaEventCounts> {
    this.#drainEvents();
    return this.#events;
  }

  /** Schedules probes and router ticks every period until `untilMs`. */
  startHousekeeping(untilMs: number): void {
    const every = (periodMs: number, run: () => void): void => {
      const loop = (): void => {
        run();
        if (this.nowMs + periodMs <= untilMs) this.#scheduler.after(periodMs * 1000, loop);
      };
      this.#scheduler.after(0, loop);
    };
    every(this.#options.probeIntervalMs, () => this.#probeAll());
    every(this.#options.tickIntervalMs, () => {
      this.#router.tick(this.nowMs);
      this.#drainEvents();
    });
  }

  /** Issues one call now. */
  call(request: SimToolCall, onEnd?: (result: SimCallResult) => void): void {
    const executor = new CallExecutor(this.#router, request, this.nowMs, {
      hedging: this.#options.hedging,
    });
    const state: CallState = {
      executor,
      request,
      openedMs: this.nowMs,
      outcomes: [],
      onEnd,
      timerGeneration: 0,
    };
    this.#apply(state, executor.start(this.nowMs));
    if (request.cancelAfterMs !== undefined) {
      this.#scheduler.after(request.cancelAfterMs * 1000, () => {
        this.#apply(state, executor.clientCancelled());
      });
    }
  }

  /** Kills a backend process; the transport notices after `detectDisconnectMs`. */
  crash(replicaId: string): void {
    const connection = this.#connection(replicaId);
    connection.backend.crash();
    this.#scheduler.after(this.#options.detectDisconnectMs * 1000, () => {
      if (connection.backend.up || !connection.connected) return;
      connection.connected = false;
      this.#router.observe(replicaId, { kind: "disconnected", atMs: this.nowMs });
      for (const flight of [...connection.inFlight]) this.#settle(flight, "unknown");
    });
  }

  /** Restarts a backend process; the transport reconnects after `detectDisconnectMs`. */
  restart(replicaId: string): void {
    const connection = this.#connection(replicaId);
    connection.backend.restart();
    this.#scheduler.after(this.#options.detectDisconnectMs * 1000, () => {
      if (!connection.backend.up || connection.connected) return;
      connection.connected = true;
      this.#router.observe(replicaId, { kind: "connected", atMs: this.nowMs });
    });
  }

  #connection(replicaId: string): Connection {
    const connection = this.#connections.get(replicaId);
    if (connection === undefined) throw new RangeError(`McpDriver: no backend "${replicaId}"`);
    return connection;
  }

  #probeAll(): void {
    for (const [id, connection] of this.#connections) {
      if (!connection.connected) continue;
      // A ping answers whenever the process runs and is not in an error burst: a slow
      // replica looks healthy to probes, which is why balancing must watch latency.
      const ok = connection.backend.up && !connection.backend.failing;
      this.#router.observe(id, { kind: "probe", atMs: this.nowMs, ok });
    }
  }

  #apply(state: CallState, effects: readonly CallEffect[]): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case "start":
          this.#send(state, effect.attempt);
          break;
        case "cancel": {
          // The transport drops a cancelled request at once; the backend may still run it.
          const flight = this.#flights.get(effect.attempt);
          if (flight !== undefined) this.#settle(flight, "cancelled");
          break;
        }
        case "set-timer": {
          const generation = ++state.timerGeneration;
          this.#scheduler.at(effect.atMs * 1000, () => {
            if (state.timerGeneration !== generation) return;
            this.#apply(state, state.executor.timerFired(this.nowMs));
          });
          break;
        }
        case "clear-timer":
          state.timerGeneration += 1;
          break;
        case "reply":
          this.#finish(state, effect.outcome);
          break;
        case "fail":
          this.#finish(state, effect.error.name);
          break;
      }
    }
  }

  #send(state: CallState, attempt: Attempt): void {
    const connection = this.#connection(attempt.replicaId);
    this.#attemptsByReplica.set(
      attempt.replicaId,
      this.#attemptsByReplica.get(attempt.replicaId)! + 1,
    );
    const flight: Flight = { state, attempt, connection, settled: false };
    this.#flights.set(attempt, flight);
    if (!connection.connected) {
      // The transport refuses at once; settle on the next event to keep the stack flat.
      this.#scheduler.after(0, () => this.#settle(flight, "not-sent"));
      return;
    }
    connection.inFlight.add(flight);
    const delayUs = this.#options.networkDelayMs * 1000;
    this.#scheduler.after(delayUs, () => {
      connection.backend.receive(
        { callId: state.executor.call.id, toolName: state.request.toolName },
        (reply: BackendReply) => this.#scheduler.after(delayUs, () => this.#settle(flight, reply)),
      );
    });
    this.#scheduler.after(this.#options.requestTimeoutMs * 1000, () => {
      this.#settle(flight, "unknown");
    });
  }

  #settle(flight: Flight, outcome: AttemptOutcome): void {
    if (flight.settled) return;
    flight.settled = true;
    flight.connection.inFlight.delete(flight);
    this.#flights.delete(flight.attempt);
    const { state } = flight;
    state.outcomes.push(outcome);
    this.#apply(state, state.executor.attemptEnded(flight.attempt, outcome, this.nowMs));
  }

  #finish(state: CallState, result: string): void {
    if (this.#results.length >= MAX_RECORDED_CALLS) {
      throw new Error(`McpDriver: more than ${MAX_RECORDED_CALLS} calls recorded`);
    }
    const record: SimCallResult = {
      callId: state.executor.call.id,
      toolName: state.request.toolName,
      // The MCP rule, stated here again: the oracle must not be the code under test.
      repeatSafe: state.request.annotations?.readOnlyHint === true ||
        state.request.annotations?.idempotentHint === true,
      openedMs: state.openedMs,
      latencyMs: this.nowMs - state.openedMs,
      result,
      outcomes: state.outcomes,
    };
    this.#results.push(record);
    state.onEnd?.(record);
  }

  #drainEvents(): void {
    for (const event of this.#router.takeEvents()) {
      const replicaId = event.kind === "outlier" ? event.event.replicaId : event.replicaId;
      const counts = this.#events.get(replicaId);
      if (counts === undefined) continue;
      if (event.kind === "health") counts.health += 1;
      else if (event.kind === "breaker") counts.breaker += 1;
      else if (event.event.kind === "ejected") counts.ejections += 1;
    }
  }
}
