/**
 * The write workload the watchers observe: sequential clients writing keys
 * under a few prefixes through whichever node they believe leads. Besides
 * single puts and deletes it issues prefix deletes and multi-key
 * transactions, so that one revision often carries several events (a hub
 * must never split a revision between deliveries).
 *
 * @module
 */
import type { SeededRng } from "@safla/core";
import type { NodeId } from "@safla/core/raft";
import { type KvQuery, type NodeEvent, type NodeReply } from "@safla/core/node";
import { type Command, type CommandResult, encodeCommand } from "@safla/core/state";
import type { Scheduler } from "../scheduler.ts";
import type { RequestSink } from "../workload.ts";

/** How the writers behave. */
export interface PrefixWriterConfig {
  /** Concurrent sequential writers. */
  writers: number;
  /** Key prefixes, e.g. `services/`. */
  prefixes: readonly string[];
  /** Key names under each prefix. */
  names: readonly string[];
  /** One-way latency between a writer and a node. */
  latencyUs: number;
  /** A writer gives up on a request after this long. */
  requestTimeoutUs: number;
  /** Longest pause between a writer's requests. */
  thinkTimeUs: number;
}

/** Counters of the writers. */
export interface PrefixWriterStats {
  /** Requests sent. */
  invoked: number;
  /** Requests answered with success. */
  ok: number;
  /** Requests refused or failed with a known outcome. */
  refused: number;
  /** Requests whose outcome is unknown (timed out, leadership lost). */
  unknown: number;
}

/** Pause after a refusal that named no leader (an election is probably under way). */
const NO_LEADER_BACKOFF_US = 10_000;

interface Writer {
  id: number;
  seq: number;
  leaderGuess: NodeId | null;
}

/**
 * The writers.
 *
 * @example
 * ```ts ignore
 * const writer = new PrefixWriter(scheduler, rng, config, cluster);
 * writer.start(stopAtUs); // route the cluster's replies to writer.onReply
 * ```
 */
export class PrefixWriter {
  readonly #scheduler: Scheduler;
  readonly #rng: SeededRng;
  readonly #config: PrefixWriterConfig;
  readonly #sink: RequestSink;
  readonly #inFlight = new Map<number, Writer>();
  #nextRequestId = 1;
  #stopAtUs = 0;
  /** Outcomes of the writes. */
  readonly stats: PrefixWriterStats = { invoked: 0, ok: 0, refused: 0, unknown: 0 };

  /** Writers over `sink`. */
  constructor(scheduler: Scheduler, rng: SeededRng, config: PrefixWriterConfig, sink: RequestSink) {
    if (config.prefixes.length === 0 || config.names.length < 3) {
      throw new RangeError("PrefixWriter: needs a prefix and at least three names");
    }
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#config = config;
    this.#sink = sink;
  }

  /** Requests waiting for an answer. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Starts the writers; none sends after `stopAtUs`. */
  start(stopAtUs: number): void {
    this.#stopAtUs = stopAtUs;
    for (let id = 0; id < this.#config.writers; id++) {
      const writer: Writer = { id, seq: 0, leaderGuess: null };
      this.#scheduler.after(this.#rng.int(1_000), () => this.#next(writer));
    }
  }

  /** A node answered request `requestId`. */
  onReply(node: NodeId, requestId: number, reply: NodeReply<CommandResult>): void {
    this.#scheduler.after(this.#config.latencyUs, () => {
      const writer = this.#inFlight.get(requestId);
      if (writer === undefined) return;
      this.#inFlight.delete(requestId);
      if (reply.ok) {
        this.stats.ok++;
        writer.leaderGuess = node;
      } else {
        if (reply.error.outcomeUnknown) this.stats.unknown++;
        else this.stats.refused++;
        writer.leaderGuess = reply.error.code === "NotLeader" ? reply.error.leaderHint : null;
      }
      // With no leader known, back off rather than spin through the nodes.
      const waitUs = writer.leaderGuess === null ? NO_LEADER_BACKOFF_US : 0;
      this.#scheduler.after(waitUs, () => this.#think(writer));
    });
  }

  #think(writer: Writer): void {
    const c = this.#config;
    this.#scheduler.after(c.thinkTimeUs === 0 ? 0 : this.#rng.int(c.thinkTimeUs), () => {
      this.#next(writer);
    });
  }

  #next(writer: Writer): void {
    if (this.#scheduler.nowUs >= this.#stopAtUs) return;
    const ids = this.#sink.ids;
    const target = writer.leaderGuess ?? ids[this.#rng.int(ids.length)];
    const requestId = this.#nextRequestId++;
    const event: NodeEvent<KvQuery> = {
      type: "request",
      requestId,
      request: { kind: "command", command: encodeCommand(this.#command(writer)) },
    };
    this.#inFlight.set(requestId, writer);
    this.stats.invoked++;
    this.#scheduler.after(this.#config.latencyUs, () => this.#sink.deliver(target, event));
    this.#scheduler.after(this.#config.requestTimeoutUs, () => {
      if (!this.#inFlight.delete(requestId)) return;
      this.stats.unknown++;
      writer.leaderGuess = null;
      this.#think(writer);
    });
  }

  #key(): string {
    const c = this.#config;
    return c.prefixes[this.#rng.int(c.prefixes.length)] + c.names[this.#rng.int(c.names.length)];
  }

  #command(writer: Writer): Command {
    const value = `w${writer.id}.${++writer.seq}`;
    const r = this.#rng.next();
    if (r < 0.55) return { op: "put", key: this.#key(), value };
    if (r < 0.7) return { op: "delete", key: this.#key() };
    const c = this.#config;
    if (r < 0.78) {
      return { op: "delete", key: c.prefixes[this.#rng.int(c.prefixes.length)], prefix: true };
    }
    // Two or three distinct keys written at one revision.
    const keys = new Set<string>();
    const want = 2 + this.#rng.int(2);
    for (let i = 0; i < 16 && keys.size < want; i++) keys.add(this.#key());
    return {
      op: "txn",
      compare: [],
      success: [...keys].map((key, i) => ({ op: "put" as const, key, value: `${value}.${i}` })),
      failure: [],
    };
  }
}
