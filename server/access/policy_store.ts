/**
 * Policies in the replicated store, one key per policy under
 * {@link POLICIES_PREFIX}. `safla__policy_put` on any node writes a key;
 * every node watches the prefix and installs a new compiled snapshot per
 * revision it applies, so nodes at the same revision decide alike.
 *
 * A stored value that does not validate (written past the tools, e.g.
 * through the raw KV API) must not open access: when it names a service, that
 * service gets a policy that denies everyone everything there, under the
 * key's name, until the value is fixed (fail closed); otherwise it is
 * ignored. Either way it is reported.
 *
 * @module
 */
import type { WatchEvent } from "@safla/core/state";
import { parsePolicy, type Policy } from "@safla/core/access";
import type { StateStore, WatchHandle } from "../store/types.ts";
import type { AccessControl } from "./access_control.ts";

/** Where policies live: inside the gateway's reserved key space. */
export const POLICIES_PREFIX = "/gateway/policies/";

/** Most policies a node loads. */
export const MAX_STORED_POLICIES = 1_000;

/** Longest a node waits for its store to answer the first read of the policies. */
export const MAX_LOAD_WAIT_MS = 120_000;
const LOAD_RETRY_MS = 250;

/** Reloads tried after the store ended the watch. */
const MAX_REWATCH_ATTEMPTS = 10;

/** The replicated policies, applied to one node's {@link AccessControl}. */
export class PolicyStore {
  readonly #store: StateStore;
  readonly #access: AccessControl;
  readonly #onError: (message: string) => void;
  #watch?: WatchHandle;
  #closed = false;
  /** name → policy as installed. */
  #policies = new Map<string, Policy>();
  /** The revision of the last installed snapshot. */
  #revision = 0;

  /** Binds `store` to `access`; {@link start} loads and follows the policies. */
  constructor(store: StateStore, access: AccessControl, onError?: (message: string) => void) {
    this.#store = store;
    this.#access = access;
    this.#onError = onError ?? ((message) => console.error(`policy store: ${message}`));
  }

  /** The revision the policies in force were read at. */
  get revision(): number {
    return this.#revision;
  }

  /**
   * Loads every stored policy, installs them, then follows changes. A node
   * starts before its cluster has a leader, so the first read is retried
   * (every {@link LOAD_RETRY_MS}) for up to {@link MAX_LOAD_WAIT_MS}.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + MAX_LOAD_WAIT_MS;
    let listed;
    for (;;) {
      try {
        listed = await this.#store.range(POLICIES_PREFIX, { limit: MAX_STORED_POLICIES });
        break;
      } catch (error) {
        if (this.#closed || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, LOAD_RETRY_MS));
      }
    }
    if (listed.more) this.#onError(`more than ${MAX_STORED_POLICIES} policies; the rest ignored`);
    this.#policies = new Map();
    for (const kv of listed.kvs) this.#set(kv.key, kv.value);
    this.#install(listed.revision);
    this.#watch = await this.#store.watch(
      { prefix: POLICIES_PREFIX },
      (events) => this.#apply(events),
      {
        startRevision: listed.revision + 1,
        onEnd: (end) => void this.#rewatch(end.reason),
      },
    );
  }

  /** A watch the store ended (compaction) resumes from a fresh read. */
  async #rewatch(reason: string): Promise<void> {
    for (let attempt = 1; attempt <= MAX_REWATCH_ATTEMPTS && !this.#closed; attempt++) {
      try {
        await this.start();
        return;
      } catch (error) {
        this.#onError(`watch ended (${reason}); reload ${attempt} failed: ${error}`);
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  #apply(events: WatchEvent[]): void {
    if (events.length === 0) return;
    for (const event of events) {
      if (event.type === "put") this.#set(event.kv.key, event.kv.value);
      else this.#policies.delete(event.kv.key.slice(POLICIES_PREFIX.length));
    }
    this.#install(events[events.length - 1].revision);
  }

  #set(key: string, value: string): void {
    const name = key.slice(POLICIES_PREFIX.length);
    let json: unknown;
    try {
      json = JSON.parse(value);
      const policy = parsePolicy(json);
      if (policy.name !== name) throw new Error(`its name is "${policy.name}", not "${name}"`);
      this.#policies.set(name, policy);
    } catch (error) {
      const service = (json as { service?: unknown } | undefined)?.service;
      this.#onError(
        `${key} is not a valid policy (${(error as Error).message}); ` +
          (typeof service === "string" ? `denying everything on "${service}"` : "ignored"),
      );
      if (typeof service === "string" && service !== "" && service.length <= 48) {
        this.#policies.set(name, { name, service, rules: [{ effect: "deny" }] });
      } else {
        this.#policies.delete(name);
      }
    }
  }

  #install(revision: number): void {
    this.#revision = revision;
    this.#access.applyStored(this.#policies.values(), revision);
  }

  /** Writes `policy` (validated); resolves once this node runs on it. */
  async put(policy: Policy): Promise<number> {
    const reply = await this.#store.put(`${POLICIES_PREFIX}${policy.name}`, JSON.stringify(policy));
    await this.#reached(reply.revision);
    return reply.revision;
  }

  /** Deletes policy `name`; false when there was none. Resolves once this node runs without it. */
  async delete(name: string): Promise<{ deleted: boolean; revision: number }> {
    const reply = await this.#store.delete(`${POLICIES_PREFIX}${name}`, { prevKv: false });
    if (reply.deleted > 0) await this.#reached(reply.revision);
    return { deleted: reply.deleted > 0, revision: reply.revision };
  }

  /** Waits (bounded) until the watch has installed `revision`. */
  async #reached(revision: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (this.#revision < revision) {
      if (Date.now() > deadline) {
        throw new Error("the change is stored but this node has not applied it yet");
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Stops following the store. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#watch?.cancel();
    this.#watch = undefined;
  }
}
