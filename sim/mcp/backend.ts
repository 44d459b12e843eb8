/**
 * A simulated MCP server process: a bounded FIFO queue in front of a fixed
 * number of workers, service times from a {@link LatencyModel}, and faults
 * the scenario switches on and off (slowdown, error bursts, crash, restart).
 * It counts how many times each call's tool actually started running, which
 * is the ground truth for "never executed twice".
 *
 * @module
 */
import type { Rng } from "@safla/core";
import type { Scheduler } from "../scheduler.ts";
import type { LatencyModel } from "./latency.ts";

/** What the backend answers: a result, or a definite error (overload, error burst). */
export type BackendReply = "ok" | "failed";

/** One tool call as the backend receives it. */
export interface BackendRequest {
  /** The logical call (shared by its retries and hedges), for execution counting. */
  readonly callId: number;
  /** The tool called. */
  readonly toolName: string;
}

/** Shape of a {@link SimBackend}. */
export interface SimBackendOptions {
  /** Replica id. */
  readonly id: string;
  /** Calls served in parallel. */
  readonly concurrency: number;
  /** Calls waiting beyond this are refused with `"failed"` (load shedding). */
  readonly queueLimit: number;
  /** Service time distribution. */
  readonly latency: LatencyModel;
  /** How long an error answer takes, in ms. */
  readonly errorReplyMs: number;
}

interface Job {
  request: BackendRequest;
  reply: (reply: BackendReply) => void;
}

/**
 * One simulated backend on the shared scheduler.
 *
 * @example
 * ```ts
 * import { SeededRng } from "@safla/core";
 * import { Scheduler } from "../scheduler.ts";
 * import { DEFAULT_LATENCY, LatencyModel } from "./latency.ts";
 * import { SimBackend } from "./backend.ts";
 * const scheduler = new Scheduler();
 * const backend = new SimBackend(scheduler, new SeededRng(1), {
 *   id: "r1", concurrency: 2, queueLimit: 100,
 *   latency: new LatencyModel(DEFAULT_LATENCY), errorReplyMs: 1,
 * });
 * backend.receive({ callId: 1, toolName: "search" }, (reply) => console.assert(reply === "ok"));
 * scheduler.runUntil(10_000_000, 100);
 * console.assert(backend.executionsOf(1) === 1);
 * ```
 */
export class SimBackend {
  /** Replica id. */
  readonly id: string;
  readonly #scheduler: Scheduler;
  readonly #rng: Rng;
  readonly #options: SimBackendOptions;
  readonly #queue: Job[] = [];
  #busy = 0;
  #up = true;
  /** Bumped by a crash, so that work started before it never answers. */
  #life = 0;
  #slowdown = 1;
  #failing = false;
  readonly #executions = new Map<number, number>();
  #executed = 0;
  #crashes = 0;

  /** Creates a running backend. */
  constructor(scheduler: Scheduler, rng: Rng, options: SimBackendOptions) {
    if (!Number.isSafeInteger(options.concurrency) || options.concurrency < 1) {
      throw new RangeError(`SimBackend: concurrency must be >= 1, got ${options.concurrency}`);
    }
    if (!Number.isSafeInteger(options.queueLimit) || options.queueLimit < 0) {
      throw new RangeError(`SimBackend: queueLimit must be >= 0, got ${options.queueLimit}`);
    }
    this.id = options.id;
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#options = options;
  }

  /** Whether the process is running. */
  get up(): boolean {
    return this.#up;
  }

  /** Whether it is answering every call with an error. */
  get failing(): boolean {
    return this.#failing;
  }

  /** Tool executions started, over all calls. */
  get executed(): number {
    return this.#executed;
  }

  /** Times the process crashed. */
  get crashes(): number {
    return this.#crashes;
  }

  /** How many times the tool of call `callId` started running here. */
  executionsOf(callId: number): number {
    return this.#executions.get(callId) ?? 0;
  }

  /** Every call id that executed here, with its execution count. */
  executions(): ReadonlyMap<number, number> {
    return this.#executions;
  }

  /** Multiplies service times of calls that start from now on (1: normal). */
  setSlowdown(factor: number): void {
    if (!(factor > 0) || !Number.isFinite(factor)) {
      throw new RangeError(`SimBackend: slowdown factor must be > 0, got ${factor}`);
    }
    this.#slowdown = factor;
  }

  /** Starts or ends an error burst: while on, every arriving call gets `"failed"`. */
  setFailing(failing: boolean): void {
    this.#failing = failing;
  }

  /**
   * A request arrives. `reply` is called once, unless the process is down or crashes
   * before answering: then the request is lost and only the transport can tell.
   */
  receive(request: BackendRequest, reply: (reply: BackendReply) => void): void {
    if (!this.#up) return;
    if (this.#failing || this.#queue.length >= this.#options.queueLimit) {
      const life = this.#life;
      this.#scheduler.after(this.#options.errorReplyMs * 1000, () => {
        if (this.#life === life) reply("failed");
      });
      return;
    }
    this.#queue.push({ request, reply });
    this.#serveNext();
  }

  /** The process dies: queued and running calls are lost (running ones did start). */
  crash(): void {
    if (!this.#up) return;
    this.#up = false;
    this.#life += 1;
    this.#crashes += 1;
    this.#queue.length = 0;
    this.#busy = 0;
  }

  /** The process starts again with an empty queue. */
  restart(): void {
    this.#up = true;
  }

  #serveNext(): void {
    while (this.#busy < this.#options.concurrency && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#busy += 1;
      this.#executed += 1;
      this.#executions.set(job.request.callId, this.executionsOf(job.request.callId) + 1);
      const serviceMs = this.#options.latency.sample(this.#rng) * this.#slowdown;
      const life = this.#life;
      this.#scheduler.after(serviceMs * 1000, () => {
        if (this.#life !== life) return;
        this.#busy -= 1;
        job.reply("ok");
        this.#serveNext();
      });
    }
  }
}
