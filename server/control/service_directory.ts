/**
 * Services registered at runtime, shared by every gateway node of a cluster
 * through the replicated state store. `register_server` on any node writes one
 * key; every node watches the prefix and connects (or disconnects) the
 * service itself. The write is one consensus round per registry change,
 * never per tool call.
 *
 * A record is checked against the rules of the node applying it
 * (`registration_check.ts`) right before it is run, so a record that reached
 * the store by any path runs only where the operator allowed it.
 *
 * @module
 */
import type { WatchEvent } from "@safla/core/state";
import type { StateStore, WatchHandle } from "../store/types.ts";
import { parseConfig } from "../config.ts";
import type { Gateway } from "../gateway/gateway.ts";
import { DEFAULT_MANAGEMENT, type RegistrationRules } from "./management_config.ts";
import { checkRuntimeService } from "./registration_check.ts";

/** Where registered services live in the state store: one key per service. */
export const SERVICES_PREFIX = "/gateway/services/";

/** Most services a directory loads at start. */
const MAX_LISTED_SERVICES = 10_000;

/** The replicated list of runtime-registered services, applied to one gateway. */
export class ServiceDirectory {
  #store: StateStore;
  #gateway: Gateway;
  #watch?: WatchHandle;
  /** name → the JSON we applied, so repeated or echoed events are no-ops. */
  #applied = new Map<string, string>();
  /** Applies events one at a time, in revision order. */
  #queue: Promise<void> = Promise.resolve();
  #onError: (error: Error) => void;
  #rules: RegistrationRules;

  /**
   * Binds `store` to `gateway`; {@link start} loads and follows the directory.
   * `rules` are this node's: a record they refuse is not run here, whoever wrote it.
   */
  constructor(
    store: StateStore,
    gateway: Gateway,
    options: { rules?: RegistrationRules; onError?: (error: Error) => void } = {},
  ) {
    this.#store = store;
    this.#gateway = gateway;
    this.#rules = options.rules ?? DEFAULT_MANAGEMENT.registration;
    this.#onError = options.onError ??
      ((error) => console.error(`service directory: ${error.message}`));
  }

  /** Loads every registered service, then follows changes from that revision on. */
  async start(): Promise<void> {
    const listed = await this.#store.range(SERVICES_PREFIX, { limit: MAX_LISTED_SERVICES });
    for (const kv of listed.kvs) await this.#apply(kv.key, kv.value);
    this.#watch = await this.#store.watch({ prefix: SERVICES_PREFIX }, (events) => {
      this.#queue = this.#queue.then(() => this.#applyEvents(events));
    }, { startRevision: listed.revision + 1 });
  }

  async #applyEvents(events: WatchEvent[]): Promise<void> {
    for (const event of events) {
      await this.#apply(event.kv.key, event.type === "put" ? event.kv.value : null);
    }
  }

  async #apply(key: string, value: string | null): Promise<void> {
    const name = key.slice(SERVICES_PREFIX.length);
    try {
      if (value === null) {
        if (this.#applied.delete(name)) await this.#gateway.unregisterService(name);
        return;
      }
      if (this.#applied.get(name) === value) return;
      const config = parseConfig({ mcpServers: { [name]: JSON.parse(value) } }, `state ${key}`);
      if (this.#applied.has(name) || this.#gateway.serviceNames().includes(name)) {
        await this.#gateway.unregisterService(name);
      }
      this.#applied.set(name, value);
      if (config.services.length === 0) return;
      await checkRuntimeService(config.services[0], this.#rules);
      await this.#gateway.registerService(config.services[0]);
    } catch (error) {
      this.#onError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Registers `server` (one `mcpServers` entry) cluster-wide; validated and
   * checked against this node's rules before writing (every node checks
   * again with its own before running it).
   */
  async register(name: string, server: unknown): Promise<void> {
    const config = parseConfig({ mcpServers: { [name]: server } }, "register_server arguments");
    if (config.services.length > 0) await checkRuntimeService(config.services[0], this.#rules);
    const value = JSON.stringify(server);
    await this.#store.put(`${SERVICES_PREFIX}${name}`, value);
    await this.#settled(() => this.#applied.get(name) === value);
  }

  /** Removes a service cluster-wide; false when it was not registered here. */
  async unregister(name: string): Promise<boolean> {
    const reply = await this.#store.delete(`${SERVICES_PREFIX}${name}`);
    if (reply.prev.length === 0) return false;
    await this.#settled(() => !this.#applied.has(name));
    return true;
  }

  /** Waits until this node applied our own write, so the caller sees its effect. */
  async #settled(done: () => boolean): Promise<void> {
    const deadline = Date.now() + this.#gateway.settings.connectTimeoutMs;
    while (!done()) {
      if (Date.now() > deadline) {
        throw new Error("the change is stored but this node has not applied it yet");
      }
      await this.#queue;
      if (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Stops following the directory. */
  async close(): Promise<void> {
    await this.#watch?.cancel();
    this.#watch = undefined;
  }
}
