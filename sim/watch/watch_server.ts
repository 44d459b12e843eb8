/**
 * The server side of watches in the simulated cluster: one production
 * {@link WatchHub} per running node incarnation, polled against that node's
 * store after it applies, the way a gateway node serves its clients' watch
 * streams. A crash ends the incarnation and with it every watcher it held;
 * the restarted node starts with an empty hub.
 *
 * Besides events, each watcher is sent progress (the hub's next revision
 * for it) when that advanced without matching events, like etcd's progress
 * notifications: a client then resumes from a recent revision even if its
 * selector matched nothing for a while.
 *
 * @module
 */
import { type KvQuery, KvStateMachine } from "@safla/core/node";
import type { NodeId } from "@safla/core/raft";
import {
  type CommandResult,
  type KvStore,
  type WatchDelivery,
  type WatchFilter,
  WatchHub,
} from "@safla/core/state";
import type { SimCluster } from "../cluster.ts";

/** Where a hub sends what it has for one watcher. */
export interface WatchSubscriber {
  /** Events, or the cancellation of a watcher that fell behind the history window. */
  deliver(delivery: WatchDelivery): void;
  /** Everything before `nextRevision` has been sent. */
  progress(nextRevision: number): void;
}

/** A watch the hub of one node incarnation accepted. */
export interface AcceptedWatch {
  /** Node that holds it. */
  node: NodeId;
  /** That node's incarnation (a crash ends it). */
  incarnation: number;
  /** Id in that node's hub. */
  watchId: number;
  /** First revision the watch covers. */
  startRevision: number;
}

/** A node's keys and values as of one revision. */
export interface StateRead {
  /** Revision the read reflects. */
  revision: number;
  /** Value of every key, by key. */
  values: ReadonlyMap<string, string>;
}

/** Bound on keys a state read returns (the scenario writes a dozen). */
const MAX_READ_KEYS = 10_000;

interface Subscription {
  subscriber: WatchSubscriber;
  progressSent: number;
}

interface HubEntry {
  incarnation: number;
  hub: WatchHub;
  subscriptions: Map<number, Subscription>;
}

/** Bound on events per watcher per poll (the hub never splits a revision). */
const MAX_EVENTS_PER_DELIVERY = 64;

/**
 * The hubs of a cluster.
 *
 * @example
 * ```ts ignore
 * const servers = new WatchServers(cluster);
 * const accepted = servers.watch("n1", { prefix: "services/" }, 1, subscriber);
 * servers.pollAll(); // after nodes applied entries
 * ```
 */
export class WatchServers {
  readonly #cluster: SimCluster<KvQuery, CommandResult>;
  readonly #hubs = new Map<NodeId, HubEntry>();

  /** Hubs over the nodes of `cluster`. */
  constructor(cluster: SimCluster<KvQuery, CommandResult>) {
    this.#cluster = cluster;
  }

  /** The store of a running node, or undefined if it is not running. */
  store(node: NodeId): KvStore | undefined {
    const p = this.#cluster.process(node);
    if (p.status !== "up" || !(p.stateMachine instanceof KvStateMachine)) return undefined;
    return p.stateMachine.store;
  }

  /**
   * A serializable read of every key on a running node, with the revision it
   * reflects (what a client re-reads after a compaction error), or undefined
   * if the node is not running.
   */
  read(node: NodeId): StateRead | undefined {
    const store = this.store(node);
    if (store === undefined) return undefined;
    const range = store.range("", MAX_READ_KEYS);
    if (range.more) throw new Error(`${node} holds more than ${MAX_READ_KEYS} keys`);
    return { revision: range.revision, values: new Map(range.kvs.map((kv) => [kv.key, kv.value])) };
  }

  /**
   * Starts a watch on `node` (from the node's next revision when
   * `startRevision` is undefined). Returns undefined when the node is not
   * running (the connection is refused).
   *
   * @throws {CompactedRevisionError} if the node's history no longer has `startRevision`.
   */
  watch(
    node: NodeId,
    filter: WatchFilter,
    startRevision: number | undefined,
    subscriber: WatchSubscriber,
  ): AcceptedWatch | undefined {
    const store = this.store(node);
    const entry = this.#entry(node);
    if (store === undefined || entry === undefined) return undefined;
    const watchId = entry.hub.watch(store, filter, startRevision);
    const start = entry.hub.nextRevision(watchId);
    if (start === undefined) throw new Error(`hub of ${node} lost watch ${watchId} at creation`);
    entry.subscriptions.set(watchId, { subscriber, progressSent: start });
    return { node, incarnation: entry.incarnation, watchId, startRevision: start };
  }

  /** Ends a watch (a client closed it, or the server gave up on it); no-op if its node is gone. */
  cancel(watch: AcceptedWatch): void {
    const entry = this.#hubs.get(watch.node);
    if (entry === undefined || entry.incarnation !== watch.incarnation) return;
    entry.hub.cancel(watch.watchId);
    entry.subscriptions.delete(watch.watchId);
  }

  /** Number of watchers held by running nodes. */
  get watchers(): number {
    let n = 0;
    for (const id of this.#cluster.ids) n += this.#entry(id)?.hub.size ?? 0;
    return n;
  }

  /** Polls every running node's hub and hands out deliveries and progress. */
  pollAll(): void {
    for (const id of this.#cluster.ids) {
      const store = this.store(id);
      const entry = this.#entry(id);
      if (store === undefined || entry === undefined) continue;
      for (const delivery of entry.hub.poll(store, MAX_EVENTS_PER_DELIVERY)) {
        const subscription = entry.subscriptions.get(delivery.watchId);
        if (subscription === undefined) {
          throw new Error(`hub of ${id} delivered to unknown watch ${delivery.watchId}`);
        }
        if (delivery.kind === "canceled") entry.subscriptions.delete(delivery.watchId);
        else subscription.progressSent = delivery.nextRevision;
        subscription.subscriber.deliver(delivery);
      }
      for (const [watchId, subscription] of entry.subscriptions) {
        const next = entry.hub.nextRevision(watchId);
        if (next === undefined || next <= subscription.progressSent) continue;
        subscription.progressSent = next;
        subscription.subscriber.progress(next);
      }
    }
  }

  /** The hub of the node's current incarnation (a fresh one after a crash). */
  #entry(node: NodeId): HubEntry | undefined {
    const p = this.#cluster.process(node);
    if (p.status === "down" || p.status === "refused") {
      this.#hubs.delete(node);
      return undefined;
    }
    let entry = this.#hubs.get(node);
    if (entry === undefined || entry.incarnation !== p.incarnation) {
      entry = { incarnation: p.incarnation, hub: new WatchHub(), subscriptions: new Map() };
      this.#hubs.set(node, entry);
    }
    return entry;
  }
}
