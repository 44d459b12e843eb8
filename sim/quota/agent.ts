/**
 * The gateway side of a quota on one simulated node: calls are admitted from
 * the node's {@link Wallet} only; at the low-water mark the agent asks for a
 * slice with the same compare-and-swap the gateway sends (`sliceTxn`), through
 * the leader it believes in when it can reach it, else through its own node.
 *
 * @module
 */
import type { NodeId } from "@safla/core/raft";
import type { KvQuery, NodeEvent, NodeReply } from "@safla/core/node";
import { type QuotaRate, sliceTxn, Wallet, wantedSliceTokens } from "@safla/core/quota";
import { type CommandResult, encodeCommand, type KeyValue } from "@safla/core/state";
import type { Scheduler } from "../scheduler.ts";
import type { AdmissionRecord, GrantRecord } from "./checker.ts";

/** Over-grant bugs the checker must catch. */
export interface QuotaBugs {
  /** The grant is written without its compare: two nodes can take the same tokens. */
  blindGrant?: boolean;
  /** A node that cannot get a slice admits calls anyway (fails open while cut off). */
  failOpenWhenCutOff?: boolean;
}

/** What an agent needs of the simulated world. */
export interface AgentWorld {
  readonly scheduler: Scheduler;
  readonly ids: readonly NodeId[];
  /** Whether `from` and `to` can talk both ways. */
  reachable(from: NodeId, to: NodeId): boolean;
  deliver(id: NodeId, event: NodeEvent<KvQuery>): void;
  /** A request id unique across agents, routed back to `agent`. */
  register(agent: QuotaAgent): number;
  readonly grants: GrantRecord[];
  readonly admissions: AdmissionRecord[];
}

/** Tuning shared by every agent of a run. */
export interface AgentSettings {
  readonly key: string;
  readonly rate: QuotaRate;
  readonly sliceTtlMs: number;
  /** Client-to-node hop, µs. */
  readonly hopUs: number;
  readonly requestTimeoutUs: number;
  readonly bugs: QuotaBugs;
}

interface Pending {
  requestId: number;
  target: NodeId;
  proposedUs: number;
  clockMs: number;
  count: number;
  value: string;
}

/** One node's quota agent. */
export class QuotaAgent {
  readonly id: NodeId;
  readonly #world: AgentWorld;
  readonly #settings: AgentSettings;
  readonly #clockOffsetMs: number;
  readonly #wallet: Wallet;
  readonly #wanted: number;
  #current: Pick<KeyValue, "value" | "modRevision"> | undefined;
  #leaderGuess: NodeId | null = null;
  #pending: Pending | undefined;
  /** The bucket was empty: no slice request before this clock reading. */
  #notBeforeMs = -Infinity;
  #lastFailed = false;
  /** Calls refused for want of a token. */
  refused = 0;

  /** An agent on node `id` whose clock is `clockOffsetMs` off virtual time. */
  constructor(id: NodeId, world: AgentWorld, settings: AgentSettings, clockOffsetMs: number) {
    this.id = id;
    this.#world = world;
    this.#settings = settings;
    this.#clockOffsetMs = clockOffsetMs;
    this.#wanted = wantedSliceTokens(settings.rate, settings.sliceTtlMs);
    this.#wallet = new Wallet({ lowWaterTokens: Math.ceil(this.#wanted / 4) });
  }

  #clockMs(): number {
    return this.#world.scheduler.nowUs / 1000 + this.#clockOffsetMs;
  }

  /** A call arrives at this node: admitted or refused, never waiting. */
  call(): boolean {
    const now = this.#clockMs();
    const admitted = this.#wallet.admit(now) ||
      (this.#settings.bugs.failOpenWhenCutOff === true && this.#lastFailed);
    if (admitted) {
      this.#world.admissions.push({ node: this.id, timeUs: this.#world.scheduler.nowUs });
    } else this.refused++;
    if (this.#pending === undefined && now >= this.#notBeforeMs && this.#wallet.wantsRefill(now)) {
      this.#askForSlice();
    }
    return admitted;
  }

  #askForSlice(): void {
    const { scheduler } = this.#world;
    const s = this.#settings;
    const clockMs = this.#clockMs();
    const txn = sliceTxn(s.key, this.#current, s.rate, clockMs, this.#wanted);
    if (txn.count === 0) {
      this.#notBeforeMs = clockMs + txn.retryInMs;
      return;
    }
    const compare = s.bugs.blindGrant ? [] : txn.compare;
    const command = encodeCommand({
      op: "txn",
      compare,
      success: txn.success,
      failure: txn.failure,
    });
    const guess = this.#leaderGuess;
    const target = guess !== null && this.#world.reachable(this.id, guess) ? guess : this.id;
    const requestId = this.#world.register(this);
    const pending: Pending = {
      requestId,
      target,
      proposedUs: scheduler.nowUs,
      clockMs,
      count: txn.count,
      value: txn.value,
    };
    this.#pending = pending;
    scheduler.after(s.hopUs, () => {
      this.#world.deliver(target, {
        type: "request",
        requestId,
        request: { kind: "command", command },
      });
    });
    scheduler.after(s.requestTimeoutUs, () => {
      if (this.#pending !== pending) return;
      this.#pending = undefined;
      this.#lastFailed = true;
      this.#leaderGuess = null;
      this.#world.deliver(target, { type: "cancel", requestId });
    });
  }

  /** The node answered request `requestId` (after the hop back). */
  onReply(node: NodeId, requestId: number, reply: NodeReply<CommandResult>): void {
    const pending = this.#pending;
    if (pending === undefined || pending.requestId !== requestId) return;
    this.#pending = undefined;
    if (!reply.ok) {
      this.#lastFailed = true;
      this.#leaderGuess = reply.error.code === "NotLeader" ? reply.error.leaderHint : null;
      return;
    }
    if (!("value" in reply) || !reply.value.ok || reply.value.op !== "txn") {
      throw new Error(`slice request answered with ${JSON.stringify(reply)}`);
    }
    this.#leaderGuess = node;
    const result = reply.value;
    if (!result.succeeded) {
      const read = result.responses[0];
      this.#current = read?.op === "get" ? read.kv ?? undefined : undefined;
      this.#lastFailed = false;
      return;
    }
    this.#current = { value: pending.value, modRevision: result.revision };
    this.#lastFailed = false;
    const expiresAtMs = pending.clockMs + this.#settings.sliceTtlMs;
    if (!this.#wallet.add(pending.count, expiresAtMs)) return;
    this.#world.grants.push({
      node: this.id,
      proposedUs: pending.proposedUs,
      receivedUs: this.#world.scheduler.nowUs,
      count: pending.count,
      expiresUs: pending.proposedUs + this.#settings.sliceTtlMs * 1000,
    });
  }
}
