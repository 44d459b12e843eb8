/**
 * The service registry under simulation: commands that register and
 * unregister replicas and set their catalogs as KV writes of the registry's
 * record encoding under its key layout (attached to KV leases, revoked as a
 * whole), and a checker that every live node's registry, fed only from the
 * KV changes that node applied, ends up equal to a registry built from the
 * final committed KV state.
 *
 * The per-node registry is fed by tapping the production state machine's
 * applies (as the watch campaign does): after each applied command, the
 * store's newest watch events are the changes that command made. A node that
 * installs a snapshot replaces its store wholesale; its registry is then
 * rebuilt from the restored store, as a gateway re-reads after compaction.
 *
 * @module
 */
import { KvStateMachine } from "@safla/core/node";
import {
  canonicalJson,
  type Catalog,
  encodeReplicaRecord,
  Registry,
  REGISTRY_PREFIX,
  registryKey,
  type ReplicaRecord,
  type ReplicaSpec,
} from "@safla/core/registry";
import type { SeededRng } from "@safla/core";
import { type Command, type CommandResult, type KvStore, type WatchEvent } from "@safla/core/state";

/** Services the workload registers replicas of. */
export const REGISTRY_SERVICES: readonly string[] = ["alpha", "beta", "gamma"];
/** Replica ids per service. */
export const REGISTRY_REPLICAS: readonly string[] = ["r1", "r2", "r3", "r4"];
/** KV lease ids the workload grants (far from anything else the workload uses). */
export const REGISTRY_LEASE_IDS: readonly number[] = [7001, 7002];
/** Lease id recorded for a registration that is not attached to a KV lease. */
export const STATIC_LEASE_ID = "static";
/** TTL of granted leases (the simulated node runs no lessor: leases end by revoke). */
const LEASE_TTL_MS = 10_000;
/** Bound on registry records read back from a store (services × replicas, with room). */
const MAX_REGISTRY_KEYS = 1_000;

/** Catalogs replicas take turns listing (small, but distinct hashes). */
const CATALOGS: readonly Catalog[] = [
  { tools: [], resources: [], resourceTemplates: [], prompts: [] },
  {
    tools: [{ name: "search", inputSchema: { type: "object" } }],
    resources: [],
    resourceTemplates: [],
    prompts: [],
  },
  {
    tools: [
      { name: "search", inputSchema: { type: "object" } },
      { name: "fetch", inputSchema: { type: "object" }, annotations: { readOnlyHint: true } },
    ],
    resources: [{ uri: "file:///readme", name: "readme" }],
    resourceTemplates: [{ uriTemplate: "file:///{+path}", name: "file" }],
    prompts: [],
  },
];

function replicaSpec(serviceId: string, replicaId: string, version: number): ReplicaSpec {
  return {
    id: replicaId,
    name: `${serviceId}-server`,
    version: `1.${version}.0`,
    transport: {
      kind: "streamable-http",
      url: `http://${serviceId}.${replicaId}.sim/mcp`,
      headers: {},
    },
    capabilities: { tools: {} },
    metadata: {},
  };
}

/**
 * Draws registry writes as KV commands. Records are built from what this
 * generator last wrote (which may not have committed): any valid record is a
 * legitimate write, the checker only needs every node to agree on the result.
 *
 * @example
 * ```ts ignore
 * const commands = new RegistryCommands();
 * const command = commands.next(rng, nowMs);
 * ```
 */
export class RegistryCommands {
  readonly #written = new Map<string, ReplicaRecord>();
  #catalogRevision = 0;

  /** The next registry write. */
  next(rng: SeededRng, nowMs: number): Command {
    const serviceId = REGISTRY_SERVICES[rng.int(REGISTRY_SERVICES.length)];
    const replicaId = REGISTRY_REPLICAS[rng.int(REGISTRY_REPLICAS.length)];
    const key = registryKey(serviceId, replicaId);
    const leaseId = REGISTRY_LEASE_IDS[rng.int(REGISTRY_LEASE_IDS.length)];
    const r = rng.next();
    // Mostly writes, so that the final state has records for the checker to compare.
    if (r < 0.1) return { op: "leaseGrant", leaseId, ttlMs: LEASE_TTL_MS, nowMs };
    if (r < 0.13) return { op: "leaseRevoke", leaseId };
    if (r < 0.23) {
      this.#written.delete(key);
      return { op: "delete", key };
    }
    const previous = this.#written.get(key);
    let record: ReplicaRecord;
    if (r < 0.6 || previous === undefined) {
      const leased = rng.next() < 0.7;
      // Valid by construction (the nodes validate every record they apply, and the
      // checker reports any they refuse): no need to validate it here too.
      record = {
        serviceId,
        replica: replicaSpec(serviceId, replicaId, rng.int(2)),
        leaseId: leased ? String(leaseId) : STATIC_LEASE_ID,
        catalog: null,
        catalogHash: null,
        catalogRevision: 0,
        health: "unknown",
        ejected: false,
      };
    } else {
      const scratch = Registry.fromJSON({
        version: 1,
        revision: Math.max(this.#catalogRevision, previous.catalogRevision),
        records: [previous],
      });
      scratch.setCatalog(serviceId, replicaId, CATALOGS[rng.int(CATALOGS.length)]);
      if (rng.next() < 0.5) scratch.setHealth(serviceId, replicaId, "healthy");
      record = scratch.record(serviceId, replicaId)!;
      this.#catalogRevision = Math.max(this.#catalogRevision, record.catalogRevision);
    }
    this.#written.set(key, record);
    const kvLease = record.leaseId === STATIC_LEASE_ID ? undefined : Number(record.leaseId);
    return { op: "put", key, value: encodeReplicaRecord(record), leaseId: kvLease };
  }
}

/** Injected into a {@link RegistryTappedKvStateMachine} to show the checker catches it. */
export interface RegistryTapBugs {
  /** Drop the n-th (1-based) registry change this state machine applies. */
  dropRegistryChange?: number;
}

/**
 * The production {@link KvStateMachine}, with a {@link Registry} fed from
 * every KV change it applies (and rebuilt when a snapshot replaces the store).
 */
export class RegistryTappedKvStateMachine extends KvStateMachine {
  #registry = new Registry();
  #registryChanges = 0;
  readonly #bugs: RegistryTapBugs;
  /** Registry changes that failed to apply (an invalid record in the log), readable. */
  readonly errors: string[] = [];

  /** A state machine with an empty store and registry. */
  constructor(bugs: RegistryTapBugs = {}) {
    super();
    this.#bugs = bugs;
  }

  /** The registry as this node's applied KV changes built it. */
  get registry(): Registry {
    return this.#registry;
  }

  /** Applies, then feeds the command's registry changes to the registry. */
  override apply(command: Uint8Array, index: number): CommandResult {
    const before = this.store.revision;
    const result = super.apply(command, index);
    if (this.store.revision > before) {
      this.store.history.forEachFrom(before + 1, (event) => {
        this.#feed(event);
        return true;
      });
    }
    return result;
  }

  /** Replaces the store and rebuilds the registry from it. */
  override restore(data: Uint8Array): void {
    super.restore(data);
    this.#registry = registryFromStore(this.store);
  }

  #feed(event: WatchEvent): void {
    if (!event.kv.key.startsWith(REGISTRY_PREFIX)) return;
    if (++this.#registryChanges === this.#bugs.dropRegistryChange) return;
    try {
      this.#registry.applyKvChange(event.kv.key, event.type === "put" ? event.kv.value : null);
    } catch (error) {
      if (this.errors.length < 8) {
        this.errors.push(`revision ${event.revision} ${event.kv.key}: ${(error as Error).message}`);
      }
    }
  }
}

/** A registry built from the records a store holds now. */
export function registryFromStore(store: KvStore): Registry {
  const range = store.range(REGISTRY_PREFIX, MAX_REGISTRY_KEYS);
  if (range.more) throw new Error(`more than ${MAX_REGISTRY_KEYS} registry keys`);
  const registry = new Registry();
  for (const kv of range.kvs) registry.applyKvChange(kv.key, kv.value);
  return registry;
}

/** One live node's view for {@link registryProblems}. */
export interface RegistryNodeView {
  /** Node id. */
  nodeId: string;
  /** Its tapped state machine. */
  stateMachine: RegistryTappedKvStateMachine;
}

/**
 * Every node's registry against a registry built from the final committed
 * KV state (the store of the node that applied the most): the records must
 * be identical. The registry's `revision` is the highest catalog revision it
 * has seen, so one fed change by change can legitimately be ahead of one
 * built from the current records (a deleted record took its revision with
 * it); it must never be behind.
 */
export function registryProblems(nodes: readonly RegistryNodeView[]): string[] {
  if (nodes.length === 0) return [];
  const problems: string[] = [];
  const reference =
    [...nodes].sort((a, b) =>
      b.stateMachine.store.appliedIndex - a.stateMachine.store.appliedIndex
    )[0];
  const store = reference.stateMachine.store;
  const expected = registryFromStore(store).toJSON();
  const expectedRecords = canonicalJson(expected.records);
  for (const { nodeId, stateMachine } of nodes) {
    for (const error of stateMachine.errors) problems.push(`${nodeId}: ${error}`);
    if (stateMachine.store.appliedIndex !== store.appliedIndex) {
      problems.push(
        `${nodeId} applied through index ${stateMachine.store.appliedIndex}, ` +
          `${reference.nodeId} through ${store.appliedIndex}`,
      );
      continue;
    }
    const actual = stateMachine.registry.toJSON();
    if (canonicalJson(actual.records) !== expectedRecords) {
      problems.push(
        `${nodeId} registry differs from the committed KV state at revision ${store.revision}: ` +
          describeDifference(actual.records, expected.records),
      );
    }
    if (actual.revision < expected.revision) {
      problems.push(
        `${nodeId} registry revision ${actual.revision} is behind its records' ${expected.revision}`,
      );
    }
  }
  return problems;
}

function describeDifference(actual: ReplicaRecord[], expected: ReplicaRecord[]): string {
  const byKey = (records: ReplicaRecord[]) =>
    new Map(records.map((r) => [registryKey(r.serviceId, r.replica.id), r]));
  const a = byKey(actual);
  const e = byKey(expected);
  const lines: string[] = [];
  for (const key of new Set([...a.keys(), ...e.keys()])) {
    const ra = a.get(key);
    const re = e.get(key);
    if (ra === undefined) lines.push(`missing ${key}`);
    else if (re === undefined) lines.push(`extra ${key}`);
    else if (canonicalJson(ra) !== canonicalJson(re)) {
      lines.push(
        `${key} has lease ${ra.leaseId} catalog ${ra.catalogHash} health ${ra.health}, ` +
          `expected lease ${re.leaseId} catalog ${re.catalogHash} health ${re.health}`,
      );
    }
  }
  return lines.sort().join("; ");
}
