// Test helpers (no tests here): Raft nodes over MemoryStorage and a small
// in-memory network that delivers messages synchronously, with cuts, drops
// and reordering, for multi-node scenarios.
import assert from "node:assert/strict";
import { SeededRng } from "../rng.ts";
import type { Config } from "./config.ts";
import { decodeConfChange } from "./confchange/conf_change.ts";
import { RawNode } from "./rawnode.ts";
import { emptyConfState, MemoryStorage } from "./storage.ts";
import type { Raft } from "./raft.ts";
import type { Entry, HardState, Message, NodeId, ReadState } from "./types.ts";

/** Config fields a test may override. */
export type TestOptions = Partial<Omit<Config, "id" | "storage" | "rng">>;

/** A normal entry with optional text payload. */
export function ent(index: number, term: number, data = ""): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(data) };
}

/** Entries 1..n with the given terms. */
export function entsWithTerms(terms: number[]): Entry[] {
  return terms.map((t, i) => ent(i + 1, t));
}

/** What a test node's storage starts with. */
export interface InitialLog {
  /** Terms of entries 1..n. */
  terms?: number[];
  /** Persisted hard state. */
  hardState?: HardState;
  /** Learners of the initial configuration. */
  learners?: NodeId[];
}

/** Creates a RawNode whose storage starts with `voters` as members (and `log`, if given). */
export function newTestRawNode(
  id: NodeId,
  voters: NodeId[],
  opts: TestOptions = {},
  seed = 1,
  log: InitialLog = {},
): { rn: RawNode; storage: MemoryStorage } {
  const storage = new MemoryStorage({ ...emptyConfState(), voters, learners: log.learners ?? [] });
  storage.append(entsWithTerms(log.terms ?? []));
  if (log.hardState) storage.setHardState(log.hardState);
  const rn = new RawNode({
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    storage,
    rng: new SeededRng(seed),
    ...opts,
  });
  return { rn, storage };
}

/** A node plus the application state of the test: persisted storage and applied entries. */
export class TestNode {
  readonly rn: RawNode;
  readonly storage: MemoryStorage;
  /** Every entry applied, in order. */
  readonly applied: Entry[] = [];
  /** Every read state served. */
  readonly readStates: ReadState[] = [];

  constructor(rn: RawNode, storage: MemoryStorage) {
    this.rn = rn;
    this.storage = storage;
  }

  get id(): NodeId {
    return this.rn.raft.id;
  }

  // The persistence contract: once a Ready's state is persisted, every
  // message in it depends only on persisted state.
  #assertPersisted(m: Message): void {
    const hs = this.storage.initialState().hardState;
    assert.ok(
      m.term === 0 || m.type === "preVote" || m.type === "preVoteResp" || m.term <= hs.term,
    );
    if (m.type === "voteResp" && !m.reject) {
      assert.equal(hs.vote, m.to, `vote for ${m.to} sent before it was persisted`);
      assert.equal(hs.term, m.term);
    }
    if (m.type === "appResp" && !m.reject) {
      assert.ok(m.index <= this.storage.lastIndex(), `ack of ${m.index} before persisting it`);
    }
    if (m.type === "app") {
      for (const e of m.entries) {
        if (e.index < this.storage.firstIndex()) continue;
        assert.equal(this.storage.term(e.index), e.term, `entry ${e.index} sent unpersisted`);
      }
    }
  }

  /** Handles all readies (persist, apply, advance) and returns the messages to send. */
  drain(): Message[] {
    const out: Message[] = [];
    for (let i = 0; i < 1000 && this.rn.hasReady(); i++) {
      const rd = this.rn.ready();
      if (rd.snapshot) this.storage.applySnapshot(rd.snapshot);
      this.storage.append(rd.entries);
      if (rd.hardState) this.storage.setHardState(rd.hardState);
      for (const m of rd.messages) this.#assertPersisted(m);
      out.push(...rd.messages);
      for (const e of rd.committedEntries) {
        this.applied.push(e);
        if (e.type === "confChange") {
          this.storage.setConfState(this.rn.applyConfChange(decodeConfChange(e.data)));
        }
      }
      this.readStates.push(...rd.readStates);
      this.rn.advance();
    }
    return out;
  }
}

/** Options of a {@link TestNetwork}. */
export interface NetworkOptions {
  /** Config overrides for every node. */
  config?: TestOptions;
  /** Seed of node rngs and of the network's drop/reorder decisions. */
  seed?: number;
  /** Start from `bootstrap(ids)` (log entries 1..n) instead of a seeded conf state. */
  bootstrap?: boolean;
}

/** A synchronous in-memory network of {@link TestNode}s. */
export class TestNetwork {
  readonly nodes = new Map<NodeId, TestNode>();
  readonly #cut = new Set<string>();
  readonly #down = new Set<NodeId>();
  readonly rng: SeededRng;
  /** Probability that a message is dropped. */
  dropRate = 0;
  /** Probability that the delivery queue is shuffled before each delivery. */
  reorderRate = 0;
  /** Probability that a delivered message is delivered a second time later. */
  duplicateRate = 0;
  /** Every message delivered, for tests that inspect traffic. */
  readonly delivered: Message[] = [];
  /** Extra filter: return false to drop a message. */
  filter: (m: Message) => boolean = () => true;
  readonly #opts: NetworkOptions;

  constructor(ids: NodeId[], opts: NetworkOptions = {}) {
    this.#opts = opts;
    this.rng = new SeededRng(opts.seed ?? 1);
    ids.forEach((id, i) => {
      if (opts.bootstrap) {
        const storage = new MemoryStorage();
        const rn = new RawNode({
          id,
          electionTicks: 10,
          heartbeatTicks: 1,
          storage,
          rng: new SeededRng((opts.seed ?? 1) * 1000 + i),
          ...opts.config,
        });
        rn.bootstrap(ids);
        this.nodes.set(id, new TestNode(rn, storage));
      } else {
        const { rn, storage } = newTestRawNode(id, ids, opts.config, (opts.seed ?? 1) * 1000 + i);
        this.nodes.set(id, new TestNode(rn, storage));
      }
    });
    this.settle();
  }

  /** Adds a node with empty storage that learns everything from the leader. */
  addEmptyNode(id: NodeId): TestNode {
    const storage = new MemoryStorage();
    const rn = new RawNode({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      rng: new SeededRng(this.nodes.size + 77),
      ...this.#opts.config,
    });
    const node = new TestNode(rn, storage);
    this.nodes.set(id, node);
    return node;
  }

  /** Adds (or replaces) node `id` running over existing `storage`, as after a restart. */
  addNodeFromStorage(id: NodeId, storage: MemoryStorage, applied = 0): TestNode {
    const rn = new RawNode({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      rng: new SeededRng(this.nodes.size + 177),
      applied,
      ...this.#opts.config,
    });
    const node = new TestNode(rn, storage);
    this.nodes.set(id, node);
    this.#down.delete(id);
    return node;
  }

  /** Restarts a node from its storage: volatile state is lost, persisted state kept. */
  restart(id: NodeId): TestNode {
    const old = this.node(id);
    const node = this.addNodeFromStorage(id, old.storage, old.rn.status().applied);
    node.applied.push(...old.applied);
    return node;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Drops every message between `a` and `b` (both directions). */
  cut(a: NodeId, b: NodeId): void {
    this.#cut.add(`${a}->${b}`);
    this.#cut.add(`${b}->${a}`);
  }

  /** Drops messages from `a` to `b` only. */
  cutOneWay(a: NodeId, b: NodeId): void {
    this.#cut.add(`${a}->${b}`);
  }

  /** Cuts `id` off from every other node. */
  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  /** Removes all cuts and drops. */
  heal(): void {
    this.#cut.clear();
    this.dropRate = 0;
    this.duplicateRate = 0;
    this.reorderRate = 0;
    this.filter = () => true;
  }

  /** Stops a node: it neither ticks nor receives. */
  stop(id: NodeId): void {
    this.#down.add(id);
  }

  #passes(m: Message): boolean {
    if (this.#down.has(m.to) || this.#down.has(m.from)) return false;
    if (this.#cut.has(`${m.from}->${m.to}`)) return false;
    if (!this.nodes.has(m.to)) return false;
    if (this.dropRate > 0 && this.rng.next() < this.dropRate) return false;
    return this.filter(m);
  }

  /** Delivers `messages` and everything they cause until the network is quiet. */
  deliver(messages: Message[]): void {
    const queue = [...messages];
    for (let steps = 0; queue.length > 0; steps++) {
      if (steps > 100_000) throw new Error("network did not quiesce");
      if (this.reorderRate > 0 && queue.length > 1 && this.rng.next() < this.reorderRate) {
        const j = this.rng.int(queue.length);
        [queue[0], queue[j]] = [queue[j], queue[0]];
      }
      const m = queue.shift() as Message;
      if (!this.#passes(m)) {
        // A transport reports a snapshot it failed to deliver.
        if (m.type === "snap" && this.nodes.has(m.from) && !this.#down.has(m.from)) {
          this.node(m.from).rn.reportSnapshot(m.to, false);
        }
        continue;
      }
      this.delivered.push(m);
      if (this.duplicateRate > 0 && this.rng.next() < this.duplicateRate) queue.push(m);
      const node = this.node(m.to);
      node.rn.step(m);
      queue.push(...node.drain());
      if (m.type === "snap") {
        const sender = this.node(m.from);
        sender.rn.reportSnapshot(m.to, true);
        queue.push(...sender.drain());
      }
    }
  }

  /** Drains every node's readies and delivers the results. */
  settle(): void {
    for (const [id, node] of this.nodes) {
      if (!this.#down.has(id)) this.deliver(node.drain());
    }
  }

  /** Ticks every running node once and delivers the consequences. */
  tickAll(times = 1): void {
    for (let t = 0; t < times; t++) {
      for (const [id, node] of this.nodes) {
        if (this.#down.has(id)) continue;
        node.rn.tick();
        this.deliver(node.drain());
      }
    }
  }

  /** Makes `id` campaign and delivers the election traffic. */
  campaign(id: NodeId): void {
    this.node(id).rn.campaign();
    this.deliver(this.node(id).drain());
  }

  /** Proposes `data` at `id` and delivers the replication traffic. */
  propose(id: NodeId, data: string): void {
    this.node(id).rn.propose(new TextEncoder().encode(data));
    this.deliver(this.node(id).drain());
  }

  /** Ids of nodes that currently consider themselves leader. */
  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.rn.raft.role === "leader").map((n) => n.id);
  }

  /** Applied normal payloads of a node, decoded as text. */
  appliedData(id: NodeId): string[] {
    return this.node(id).applied.filter((e) => e.type === "normal" && e.data.length > 0).map((e) =>
      new TextDecoder().decode(e.data)
    );
  }
}

/** Creates a bare Raft state machine for message-level tests. */
export function newTestRaft(
  id: NodeId,
  voters: NodeId[],
  opts: TestOptions = {},
  log: InitialLog = {},
  seed = 1,
): Raft {
  return newTestRawNode(id, voters, opts, seed, log).rn.raft;
}

/** Returns and clears the messages a Raft has queued. */
export function readMessages(r: Raft): Message[] {
  const out = r.msgs;
  r.msgs = [];
  return out;
}

/**
 * Makes a fresh leader's followers acknowledge everything it sent, so its
 * no-op entry commits; clears the resulting messages.
 */
export function commitNoopEntry(r: Raft): void {
  r.bcastAppend();
  for (const m of readMessages(r)) {
    if (m.type !== "app" || m.entries.length === 0) continue;
    r.step({
      ...m,
      type: "appResp",
      from: m.to,
      to: r.id,
      term: r.term,
      index: m.index + m.entries.length,
      entries: [],
    });
  }
  readMessages(r);
  // Apply as a driver would (entries stay in the unstable log; that is fine here).
  const log = r.raftLog;
  const committed = log.nextCommittedEnts().at(-1);
  if (committed) {
    log.acceptApplying(committed.index);
    r.appliedTo(committed.index, 0);
  }
}
