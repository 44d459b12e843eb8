/**
 * The client workload: sequential clients issuing KV operations against the
 * cluster and recording each one's invocation and completion in virtual
 * time, for the linearizability checker. A client that times out records
 * its write as indeterminate (it may or may not have taken effect), never
 * as failed; a definite refusal (not the leader, overloaded) is dropped from
 * the history since it had no effect.
 *
 * @module
 */

import type { SeededRng } from "@safla/core";
import type { NodeId } from "@safla/core/raft";
import { type KvQuery, type NodeEvent, type NodeReply } from "@safla/core/node";
import { type Command, type CommandResult, encodeCommand } from "@safla/core/state";
import type { KvInput, KvOperation, KvOutput } from "./checkers/kv_model.ts";
import { RegistryCommands } from "./registry_check.ts";
import type { Scheduler } from "./scheduler.ts";
import type { WorkloadConfig } from "./swarm.ts";
import type { Trace } from "./trace.ts";

/** Where requests go. */
export interface RequestSink {
  /** Node ids. */
  readonly ids: NodeId[];
  /** Hands an event to a node. */
  deliver(id: NodeId, event: NodeEvent<KvQuery>): void;
}

/** Workload-side bug injection. */
export interface WorkloadBugs {
  /**
   * Reads are served from the local state of whichever node the client asks
   * (serializable) but recorded as linearizable: the "stale read from a
   * deposed leader" bug class.
   */
  serializableReadsAsLinearizable?: boolean;
}

interface InFlight {
  client: Client;
  /** The operation in the checked history; null for a registry write (checked by its own checker). */
  op: KvOperation | null;
  node: NodeId;
}

interface Client {
  id: number;
  leaderGuess: NodeId | null;
  seq: number;
  /** Last version this client saw per key, to aim compare-and-swaps. */
  seenVersion: Map<string, number>;
}

/** Counters of what clients saw. */
export interface WorkloadStats {
  /** Operations invoked. */
  invoked: number;
  /** Operations answered successfully. */
  ok: number;
  /** Operations refused definitely (dropped from the history). */
  refused: number;
  /** Operations whose outcome is unknown (timeouts, deposed leaders). */
  indeterminate: number;
  /** Registry writes invoked (not part of the linearizability history). */
  registryWrites: number;
}

/**
 * The workload driver.
 *
 * @example
 * ```ts ignore
 * const w = new KvWorkload(scheduler, rng, config.workload, cluster, trace, {});
 * w.start(stopIssuingAtUs);
 * ```
 */
export class KvWorkload {
  readonly #scheduler: Scheduler;
  readonly #rng: SeededRng;
  readonly #config: WorkloadConfig;
  readonly #sink: RequestSink;
  readonly #trace: Trace;
  readonly #bugs: WorkloadBugs;
  readonly #inFlight = new Map<number, InFlight>();
  readonly #ops: Array<KvOperation & { discarded?: boolean }> = [];
  readonly #registry = new RegistryCommands();
  #nextRequestId = 1;
  #stopAtUs = 0;
  readonly stats: WorkloadStats = {
    invoked: 0,
    ok: 0,
    refused: 0,
    indeterminate: 0,
    registryWrites: 0,
  };

  /** A workload over `sink`. */
  constructor(
    scheduler: Scheduler,
    rng: SeededRng,
    config: WorkloadConfig,
    sink: RequestSink,
    trace: Trace,
    bugs: WorkloadBugs,
  ) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#config = config;
    this.#sink = sink;
    this.#trace = trace;
    this.#bugs = bugs;
  }

  /** Starts every client; none invokes an operation after `stopAtUs`. */
  start(stopAtUs: number): void {
    this.#stopAtUs = stopAtUs;
    for (let i = 0; i < this.#config.clients; i++) {
      const client: Client = { id: i, leaderGuess: null, seq: 0, seenVersion: new Map() };
      this.#scheduler.after(this.#rng.int(1000), () => this.#next(client));
    }
  }

  /** Operations still waiting for an answer. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** The history for the checker (definitely refused operations left out). */
  history(): KvOperation[] {
    return this.#ops.filter((op) => !op.discarded).map(({ discarded: _, ...op }) => op);
  }

  /** A node answered request `requestId`. */
  onReply(node: NodeId, requestId: number, reply: NodeReply<CommandResult>): void {
    this.#scheduler.after(this.#config.clientLatencyUs, () => {
      const f = this.#inFlight.get(requestId);
      if (!f) return;
      this.#inFlight.delete(requestId);
      this.#complete(f, node, reply);
    });
  }

  #next(client: Client): void {
    const now = this.#scheduler.nowUs;
    if (now >= this.#stopAtUs) return;
    const c = this.#config;
    const rng = this.#rng;
    if (rng.next() < c.registryRatio) {
      this.#send(client, null, encodeCommand(this.#registry.next(rng, Math.floor(now / 1000))));
      return;
    }
    const key = `k${rng.int(c.keys)}`;
    const value = `c${client.id}.${++client.seq}`;
    const r = rng.next();
    let input: KvInput;
    if (r < c.readRatio) input = { op: "get" };
    else if (r < c.readRatio + c.casRatio) {
      const seen = client.seenVersion.get(key) ?? 0;
      input = { op: "cas", expect: { version: seen + rng.int(2) }, value };
    } else if (r < c.readRatio + c.casRatio + c.deleteRatio) input = { op: "delete" };
    else input = { op: "put", value };
    const op: KvOperation = {
      clientId: client.id,
      key,
      input,
      output: undefined,
      invokeTime: now,
      completeTime: undefined,
    };
    this.#ops.push(op);
    this.stats.invoked++;
    if (input.op !== "get") {
      this.#send(client, op, encodeCommand(toCommand(key, input)));
      return;
    }
    const consistency = this.#bugs.serializableReadsAsLinearizable
      ? "serializable"
      : "linearizable";
    this.#send(client, op, { op: "get", key }, consistency);
  }

  /** Sends a command (or a read) for `op`, null for a registry write, and arms its timeout. */
  #send(
    client: Client,
    op: KvOperation | null,
    body: Uint8Array | KvQuery,
    consistency: "serializable" | "linearizable" = "linearizable",
  ): void {
    const c = this.#config;
    const rng = this.#rng;
    if (op === null) this.stats.registryWrites++;
    const ids = this.#sink.ids;
    const target = client.leaderGuess ?? ids[rng.int(ids.length)];
    const requestId = this.#nextRequestId++;
    this.#inFlight.set(requestId, { client, op, node: target });
    const event: NodeEvent<KvQuery> = {
      type: "request",
      requestId,
      request: body instanceof Uint8Array
        ? { kind: "command", command: body }
        : { kind: "read", query: body, consistency },
    };
    this.#scheduler.after(c.clientLatencyUs, () => this.#sink.deliver(target, event));
    this.#scheduler.after(c.requestTimeoutUs, () => {
      const f = this.#inFlight.get(requestId);
      if (!f) return;
      this.#inFlight.delete(requestId);
      // A timed-out read had no effect; a timed-out write may have had one.
      // Registry writes are not in the history: nothing to record for them.
      if (op?.input.op === "get") this.#discard(op);
      else if (op !== null) this.stats.indeterminate++;
      this.#trace.record(this.#scheduler.nowUs, target, "clientTimeout", `#${requestId}`);
      this.#sink.deliver(target, { type: "cancel", requestId });
      client.leaderGuess = null;
      this.#scheduleNext(client);
    });
  }

  #complete(f: InFlight, node: NodeId, reply: NodeReply<CommandResult>): void {
    const { client, op } = f;
    if (op === null) {
      client.leaderGuess = reply.ok
        ? node
        : reply.error.code === "NotLeader"
        ? reply.error.leaderHint
        : null;
      this.#scheduleNext(client);
      return;
    }
    if (!reply.ok) {
      const e = reply.error;
      if (e.outcomeUnknown && op.input.op !== "get") this.stats.indeterminate++;
      else this.#discard(op);
      client.leaderGuess = e.code === "NotLeader" ? e.leaderHint : null;
      this.#scheduleNext(client);
      return;
    }
    if (!("value" in reply)) throw new Error(`workload request answered with a configuration`);
    const output = toOutput(op.input, reply.value);
    if (output === undefined) {
      this.#discard(op);
    } else {
      op.output = output;
      op.completeTime = this.#scheduler.nowUs;
      this.stats.ok++;
      if (output.version !== undefined) client.seenVersion.set(op.key, output.version);
    }
    client.leaderGuess = node;
    this.#scheduleNext(client);
  }

  #discard(op: KvOperation & { discarded?: boolean }): void {
    op.discarded = true;
    this.stats.refused++;
  }

  #scheduleNext(client: Client): void {
    const thinkUs = this.#config.thinkTimeUs === 0 ? 0 : this.#rng.int(this.#config.thinkTimeUs);
    this.#scheduler.after(thinkUs, () => this.#next(client));
  }
}

function toCommand(key: string, input: KvInput): Command {
  switch (input.op) {
    case "put":
      return { op: "put", key, value: input.value };
    case "delete":
      return { op: "delete", key };
    case "cas":
      if ("version" in input.expect) {
        return {
          op: "txn",
          compare: [{ key, target: "version", result: "equal", value: input.expect.version }],
          success: [{ op: "put", key, value: input.value }],
          failure: [],
        };
      }
      return {
        op: "txn",
        compare: [{ key, target: "value", result: "equal", value: input.expect.value }],
        success: [{ op: "put", key, value: input.value }],
        failure: [],
      };
    case "get":
    case "append":
      throw new RangeError(`${input.op} is not a command of this workload`);
  }
}

/** The checker's view of a store answer; undefined when the store refused the command. */
function toOutput(input: KvInput, result: CommandResult): KvOutput | undefined {
  if (!result.ok) return undefined;
  switch (input.op) {
    case "get":
      if (result.op !== "get") throw new Error(`get answered by ${result.op}`);
      return { value: result.kv?.value ?? null, version: result.kv?.version ?? 0 };
    case "put":
      return {};
    case "delete":
      if (result.op !== "delete") throw new Error(`delete answered by ${result.op}`);
      return { deleted: result.deleted > 0 };
    case "cas":
      if (result.op !== "txn") throw new Error(`cas answered by ${result.op}`);
      return { succeeded: result.succeeded };
    case "append":
      return undefined;
  }
}
