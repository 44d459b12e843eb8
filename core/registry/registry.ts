/**
 * The service registry: which services exist, their replicas, each replica's
 * catalog and health, and the queries a gateway asks on the call path (which
 * replicas offer a tool, which service serves a resource URI).
 *
 * Every mutation returns the events it caused, as data. Events are derived by
 * observing the touched services before and after the change, so they always
 * agree with the difference between the two snapshots. The whole registry is
 * plain JSON ({@link Registry.toJSON}), and one replica is one record under
 * {@link registryKey}, so it can live in the replicated KV store.
 *
 * @module
 */

import {
  type Catalog,
  type CatalogDiff,
  type CatalogResourceTemplate,
  type CatalogTool,
  diffCatalogs,
  normalizeCatalog,
} from "./catalog.ts";
import { canonicalJson, compareCodeUnits, contentHash } from "./content_hash.ts";
import { HEALTH_STATUSES, type HealthStatus } from "./health.ts";
import {
  matchesCapabilities,
  type ReplicaSpec,
  ServiceValidationError,
  validateReplica,
  validateReplicaId,
  validateServiceId,
} from "./service.ts";
import { type MatchedValue, UriTemplate, UriTemplateError } from "./uri_template.ts";
import type { JsonObject } from "./content_hash.ts";

/** Everything the registry knows about one replica. Plain JSON; one KV record. */
export interface ReplicaRecord {
  /** The service the replica belongs to. */
  serviceId: string;
  /** The replica itself. */
  replica: ReplicaSpec;
  /** The lease that owns the registration; when it expires the replica goes. */
  leaseId: string;
  /** Its catalog, or null until it has been listed. */
  catalog: Catalog | null;
  /** Content hash of `catalog`, or null. */
  catalogHash: string | null;
  /** Registry revision at which the catalog was set (newer wins ties between replicas). */
  catalogRevision: number;
  /** Current health. */
  health: HealthStatus;
  /** Temporarily taken out of rotation by outlier ejection. */
  ejected: boolean;
}

/** A replica as queries return it (the seed's `MCPNodeInfo`). Do not modify: it shares frozen data. */
export interface ReplicaInfo {
  /** Service id. */
  serviceId: string;
  /** Replica id. */
  id: string;
  /** Server name. */
  name: string;
  /** Server version. */
  version: string;
  /** How to reach it. */
  transport: ReplicaSpec["transport"];
  /** MCP server capabilities. */
  capabilities: JsonObject;
  /** Labels. */
  metadata: JsonObject;
  /** Health status. */
  status: HealthStatus;
  /** Whether outlier ejection has taken it out of rotation. */
  ejected: boolean;
  /** Owning lease. */
  leaseId: string;
  /** Content hash of its catalog, or null before it was listed. */
  catalogHash: string | null;
  /** Names of its tools, sorted. */
  tools: string[];
  /** URIs of its concrete resources, sorted. */
  resources: string[];
}

/** Filter of {@link Registry.discover}; every given field must match. */
export interface DiscoverQuery {
  /** Structural capability filter, see `matchesCapabilities`. */
  capability?: JsonObject;
  /** The replica's catalog lists this tool. */
  tool?: string;
  /** The replica has this status (or one of these). */
  status?: HealthStatus | readonly HealthStatus[];
  /** The replica belongs to this service. */
  serviceId?: string;
}

/** A service offering a resource URI, as {@link Registry.resolveResource} finds it. */
export type ResourceRoute =
  | {
    /** The URI is one of the service's concrete resources. */
    kind: "resource";
    /** The service. */
    serviceId: string;
    /** The URI. */
    uri: string;
  }
  | {
    /** The URI matches one of the service's resource templates. */
    kind: "template";
    /** The service. */
    serviceId: string;
    /** The matching template. */
    uriTemplate: string;
    /** Variables recovered from the URI. */
    variables: Record<string, MatchedValue>;
  };

/** What a mutation changed, as data. */
export type RegistryEvent =
  | {
    /** A service got its first replica. */
    type: "serviceAdded";
    /** The service. */
    serviceId: string;
  }
  | {
    /** A service lost its last replica. */
    type: "serviceRemoved";
    /** The service. */
    serviceId: string;
  }
  | {
    /** A replica became healthy. */
    type: "replicaUp";
    /** Its service. */
    serviceId: string;
    /** The replica. */
    replicaId: string;
  }
  | {
    /** A healthy replica stopped being healthy, or was removed. */
    type: "replicaDown";
    /** Its service. */
    serviceId: string;
    /** The replica. */
    replicaId: string;
    /** Its status now, or `"removed"`. */
    status: HealthStatus | "removed";
  }
  | {
    /** The catalog a service shows clients changed; drives `list_changed` notifications. */
    type: "catalogChanged";
    /** The service. */
    serviceId: string;
    /** Hash of the previous service catalog, or null. */
    previousHash: string | null;
    /** Hash of the new service catalog, or null (no replica listed). */
    catalogHash: string | null;
    /** What changed. */
    diff: CatalogDiff;
  };

/** The registry as plain JSON. */
export interface RegistrySnapshot {
  /** Format version. */
  version: 1;
  /** Highest revision handed out so far. */
  revision: number;
  /** Every replica record, sorted by service then replica id. */
  records: ReplicaRecord[];
}

/** Why a registry operation was refused. */
export type RegistryErrorCode =
  | "unknown-replica"
  | "capacity"
  | "invalid-record"
  | "invalid-snapshot";

/** Thrown when a registry operation is refused. */
export class RegistryError extends Error {
  /** Machine-readable cause. */
  readonly code: RegistryErrorCode;

  /** Creates the error. */
  constructor(code: RegistryErrorCode, message: string) {
    super(message);
    this.name = "RegistryError";
    this.code = code;
  }
}

/** Most replicas one registry holds. */
export const MAX_REPLICAS = 10_000;
/** Longest lease id. */
export const MAX_LEASE_ID_LENGTH = 256;
/** Key prefix of everything the registry stores in the KV store. */
export const REGISTRY_PREFIX = "/registry/";

/**
 * The KV key of one replica record.
 *
 * @example
 * ```ts
 * import { registryKey } from "./registry.ts";
 * console.assert(registryKey("github", "r1") === "/registry/services/github/replicas/r1");
 * ```
 */
export function registryKey(serviceId: string, replicaId: string): string {
  validateServiceId(serviceId);
  validateReplicaId(replicaId, "replicaId");
  return `${registryServicePrefix(serviceId)}${replicaId}`;
}

/** The KV key prefix under which all replicas of `serviceId` are stored. */
export function registryServicePrefix(serviceId: string): string {
  validateServiceId(serviceId);
  return `${REGISTRY_PREFIX}services/${serviceId}/replicas/`;
}

/**
 * Splits a key made by {@link registryKey}; null for any other key.
 *
 * @example
 * ```ts
 * import { parseRegistryKey } from "./registry.ts";
 * console.assert(parseRegistryKey("/registry/services/a/replicas/b")?.replicaId === "b");
 * ```
 */
export function parseRegistryKey(key: string): { serviceId: string; replicaId: string } | null {
  const m = /^\/registry\/services\/([^/]+)\/replicas\/([^/]+)$/.exec(key);
  if (m === null) return null;
  try {
    return { serviceId: validateServiceId(m[1]), replicaId: validateReplicaId(m[2], "replicaId") };
  } catch {
    return null;
  }
}

function validateLeaseId(leaseId: unknown): string {
  if (typeof leaseId !== "string" || leaseId === "" || leaseId.length > MAX_LEASE_ID_LENGTH) {
    throw new ServiceValidationError(
      "leaseId",
      `must be a non-empty string of at most ${MAX_LEASE_ID_LENGTH} characters`,
    );
  }
  return leaseId;
}

/**
 * Checks a record read from the KV store (or a snapshot) and returns a clean,
 * frozen copy. Throws {@link RegistryError} with code `invalid-record`.
 */
export function validateReplicaRecord(value: unknown): ReplicaRecord {
  try {
    if (value === null || typeof value !== "object") throw new Error("record is not an object");
    const r = value as Record<string, unknown>;
    const catalog = r.catalog === null ? null : normalizeCatalog(r.catalog as Catalog);
    const hash = catalog === null ? null : contentHash(catalog);
    if (r.catalogHash !== hash) {
      throw new Error(`catalogHash ${String(r.catalogHash)} does not match ${hash}`);
    }
    const revision = r.catalogRevision;
    if (!Number.isSafeInteger(revision) || (revision as number) < 0) {
      throw new Error("catalogRevision must be a safe integer >= 0");
    }
    if (!HEALTH_STATUSES.includes(r.health as HealthStatus)) {
      throw new Error(`bad health ${String(r.health)}`);
    }
    if (typeof r.ejected !== "boolean") throw new Error("ejected must be a boolean");
    return deepFreeze({
      serviceId: validateServiceId(r.serviceId),
      replica: validateReplica(r.replica),
      leaseId: validateLeaseId(r.leaseId),
      catalog,
      catalogHash: hash,
      catalogRevision: revision as number,
      health: r.health as HealthStatus,
      ejected: r.ejected,
    });
  } catch (e) {
    throw new RegistryError("invalid-record", `invalid replica record: ${(e as Error).message}`);
  }
}

/**
 * The KV value of a record: its canonical JSON.
 *
 * @example
 * ```ts
 * import { decodeReplicaRecord, encodeReplicaRecord, Registry } from "./registry.ts";
 * const registry = new Registry();
 * registry.register("fs", {
 *   id: "r1", name: "fs", version: "1",
 *   transport: { kind: "stdio", command: "fs", args: [], env: {} }, capabilities: {}, metadata: {},
 * }, "7");
 * const text = encodeReplicaRecord(registry.record("fs", "r1")!);
 * console.assert(decodeReplicaRecord(text).leaseId === "7");
 * ```
 */
export function encodeReplicaRecord(record: ReplicaRecord): string {
  return canonicalJson(record);
}

/** Parses and validates a KV value written by {@link encodeReplicaRecord}. Throws `invalid-record`. */
export function decodeReplicaRecord(text: string): ReplicaRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RegistryError("invalid-record", `invalid replica record: ${(e as Error).message}`);
  }
  return validateReplicaRecord(value);
}

/** A resource template together with the service that declared it. */
export interface ServiceResourceTemplate {
  /** The declaring service. */
  serviceId: string;
  /** The template as listed. */
  template: CatalogResourceTemplate;
}

interface Entry {
  record: ReplicaRecord;
  toolNames: ReadonlySet<string>;
  /** The record's canonical JSON, computed when first compared. */
  canonical?: string;
}

function canonicalOf(entry: Entry): string {
  entry.canonical ??= canonicalJson(entry.record);
  return entry.canonical;
}

interface ServiceCatalog {
  catalog: Catalog;
  hash: string;
  tools: ReadonlyMap<string, CatalogTool>;
}

interface ResourceIndex {
  exact: Map<string, string[]>;
  templates: Array<{ serviceId: string; template: UriTemplate }>;
}

interface ServiceObservation {
  up: Set<string>;
  catalog: Catalog | null;
  hash: string | null;
}

/** Order of preference on the call path: healthy and not ejected first. */
function routeTier(record: ReplicaRecord): number {
  const base = record.health === "healthy" ? 0 : record.health === "unknown" ? 1 : 3;
  return record.ejected ? base + 1 : base;
}

const MAX_TEMPLATE_CACHE = 4096;

/**
 * The registry of services and their replicas.
 *
 * @example
 * ```ts
 * import { Registry } from "./registry.ts";
 * const registry = new Registry();
 * const replica = {
 *   id: "r1", name: "echo", version: "1.0.0",
 *   transport: { kind: "stdio" as const, command: "echo-server", args: [], env: {} },
 *   capabilities: { tools: {} }, metadata: {},
 * };
 * registry.register("echo", replica, "lease-node-a");
 * registry.setCatalog("echo", "r1", {
 *   tools: [{ name: "echo", inputSchema: { type: "object" }, annotations: { readOnlyHint: true } }],
 *   resources: [], resourceTemplates: [], prompts: [],
 * });
 * const events = registry.setHealth("echo", "r1", "healthy");
 * console.assert(events[0].type === "replicaUp");
 * console.assert(registry.replicasForTool("echo", "echo")[0].id === "r1");
 * console.assert(registry.expireLease("lease-node-a").some((e) => e.type === "serviceRemoved"));
 * ```
 */
export class Registry {
  #services = new Map<string, Map<string, Entry>>();
  #leases = new Map<string, Set<string>>();
  #count = 0;
  #revision = 0;
  #serviceCatalogs = new Map<string, ServiceCatalog | null>();
  #resourceIndex: ResourceIndex | null = null;
  #templateCache = new Map<string, UriTemplate | null>();

  /**
   * Registers (or re-registers) a replica of `serviceId` under `leaseId`.
   * The service id is the seed's mount prefix: clients see the service's
   * tools as `{serviceId}{separator}{tool}`. When the registry lives in the
   * KV store, use the KV lease id (in decimal) so both expire together.
   * Idempotent: the same replica with the same lease changes nothing. A
   * changed spec is a different backend: its catalog and health start over.
   * A new lease takes the registration over.
   */
  register(serviceId: string, replica: ReplicaSpec, leaseId: string): RegistryEvent[] {
    validateServiceId(serviceId);
    const spec = deepFreeze(validateReplica(replica));
    validateLeaseId(leaseId);
    const existing = this.#services.get(serviceId)?.get(spec.id);
    if (existing === undefined && this.#count >= MAX_REPLICAS) {
      throw new RegistryError("capacity", `registry is full (${MAX_REPLICAS} replicas)`);
    }
    const sameSpec = existing !== undefined &&
      canonicalJson(existing.record.replica) === canonicalJson(spec);
    if (sameSpec && existing.record.leaseId === leaseId) return [];
    return this.#mutate([serviceId], () => {
      const record: ReplicaRecord = sameSpec ? { ...existing.record, leaseId } : {
        serviceId,
        replica: spec,
        leaseId,
        catalog: null,
        catalogHash: null,
        catalogRevision: 0,
        health: "unknown",
        ejected: false,
      };
      this.#put(record);
    });
  }

  /** Removes a replica. Idempotent: removing an absent replica returns no events. */
  unregister(serviceId: string, replicaId: string): RegistryEvent[] {
    if (this.#services.get(serviceId)?.get(replicaId) === undefined) return [];
    return this.#mutate([serviceId], () => this.#delete(serviceId, replicaId));
  }

  /** Removes every replica registered under `leaseId` (its owner is gone). */
  expireLease(leaseId: string): RegistryEvent[] {
    const keys = this.#leases.get(leaseId);
    if (keys === undefined) return [];
    const owned = [...keys].map(splitKey);
    const services = [...new Set(owned.map((k) => k.serviceId))].sort(compareCodeUnits);
    return this.#mutate(services, () => {
      for (const { serviceId, replicaId } of owned) this.#delete(serviceId, replicaId);
    });
  }

  /** Sets the catalog a replica listed. Throws `unknown-replica` for an unregistered one. */
  setCatalog(serviceId: string, replicaId: string, catalog: Catalog): RegistryEvent[] {
    const entry = this.#entry(serviceId, replicaId);
    const normalized = deepFreeze(normalizeCatalog(catalog));
    // Already normalized: hashing its canonical JSON is what catalogHash would do.
    const hash = contentHash(normalized);
    if (hash === entry.record.catalogHash) return [];
    return this.#mutate([serviceId], () => {
      this.#revision++;
      this.#put({
        ...entry.record,
        catalog: normalized,
        catalogHash: hash,
        catalogRevision: this.#revision,
      });
    });
  }

  /** Sets a replica's health status (from the health state machine). */
  setHealth(serviceId: string, replicaId: string, status: HealthStatus): RegistryEvent[] {
    const entry = this.#entry(serviceId, replicaId);
    if (!HEALTH_STATUSES.includes(status)) {
      throw new ServiceValidationError("health", `unknown status ${JSON.stringify(status)}`);
    }
    if (entry.record.health === status) return [];
    return this.#mutate([serviceId], () => this.#put({ ...entry.record, health: status }));
  }

  /** Marks a replica ejected (or back) by outlier detection. */
  setEjected(serviceId: string, replicaId: string, ejected: boolean): RegistryEvent[] {
    const entry = this.#entry(serviceId, replicaId);
    if (entry.record.ejected === ejected) return [];
    return this.#mutate([serviceId], () => this.#put({ ...entry.record, ejected }));
  }

  /**
   * Stores a whole record, as read from the KV store (a watch event).
   * Validated; the registry's revision moves past the record's.
   */
  upsertRecord(record: ReplicaRecord): RegistryEvent[] {
    return this.#upsertClean(validateReplicaRecord(record));
  }

  /** {@link upsertRecord} of a record that {@link validateReplicaRecord} returned. */
  #upsertClean(clean: ReplicaRecord): RegistryEvent[] {
    const existing = this.#services.get(clean.serviceId)?.get(clean.replica.id);
    if (existing === undefined && this.#count >= MAX_REPLICAS) {
      throw new RegistryError("capacity", `registry is full (${MAX_REPLICAS} replicas)`);
    }
    const canonical = canonicalJson(clean);
    if (existing !== undefined && canonicalOf(existing) === canonical) return [];
    return this.#mutate([clean.serviceId], () => {
      this.#revision = Math.max(this.#revision, clean.catalogRevision);
      this.#put(clean, canonical);
    });
  }

  /**
   * Applies one change of the KV store under {@link REGISTRY_PREFIX}: `value`
   * is an encoded record, or null for a deleted key (including one deleted
   * because its lease expired). Keys outside the registry are ignored.
   */
  applyKvChange(key: string, value: string | null): RegistryEvent[] {
    const parsed = parseRegistryKey(key);
    if (parsed === null) return [];
    if (value === null) return this.unregister(parsed.serviceId, parsed.replicaId);
    const record = decodeReplicaRecord(value);
    if (record.serviceId !== parsed.serviceId || record.replica.id !== parsed.replicaId) {
      throw new RegistryError(
        "invalid-record",
        `record for ${record.serviceId}/${record.replica.id} stored under ${key}`,
      );
    }
    // Already validated by decodeReplicaRecord: watch events apply every registry write.
    return this.#upsertClean(record);
  }

  /** The record of a replica (for writing to the KV store), or undefined. */
  record(serviceId: string, replicaId: string): ReplicaRecord | undefined {
    return this.#services.get(serviceId)?.get(replicaId)?.record;
  }

  /** Whether the replica is registered. */
  has(serviceId: string, replicaId: string): boolean {
    return this.#services.get(serviceId)?.has(replicaId) ?? false;
  }

  /** Ids of all services with at least one replica, sorted. */
  services(): string[] {
    return [...this.#services.keys()].sort(compareCodeUnits);
  }

  /** Replicas of a service, sorted by id (empty for an unknown service). */
  replicas(serviceId: string): ReplicaInfo[] {
    const replicas = this.#services.get(serviceId);
    if (replicas === undefined) return [];
    return [...replicas.keys()].sort(compareCodeUnits).map((id) => info(replicas.get(id)!));
  }

  /** Ids of all leases that own registrations, sorted. */
  leases(): string[] {
    return [...this.#leases.keys()].sort(compareCodeUnits);
  }

  /**
   * The seed's `discover_nodes`: replicas matching every given filter, sorted
   * by service then replica id.
   */
  discover(query: DiscoverQuery = {}): ReplicaInfo[] {
    const statuses = query.status === undefined
      ? null
      : typeof query.status === "string"
      ? [query.status]
      : query.status;
    const out: ReplicaInfo[] = [];
    const serviceIds = query.serviceId === undefined ? this.services() : [query.serviceId];
    for (const serviceId of serviceIds) {
      const replicas = this.#services.get(serviceId);
      if (replicas === undefined) continue;
      for (const id of [...replicas.keys()].sort(compareCodeUnits)) {
        const entry = replicas.get(id)!;
        const r = entry.record;
        if (statuses !== null && !statuses.includes(r.health)) continue;
        if (query.tool !== undefined && !entry.toolNames.has(query.tool)) continue;
        if (
          query.capability !== undefined &&
          !matchesCapabilities(r.replica.capabilities, query.capability)
        ) {
          continue;
        }
        out.push(info(entry));
      }
    }
    return out;
  }

  /**
   * Replicas of `serviceId` whose catalog lists `toolName`, best first:
   * healthy and not ejected, then unknown, then ejected, then unhealthy;
   * disconnected replicas are left out. Ties keep replica id order.
   */
  replicasForTool(serviceId: string, toolName: string): ReplicaInfo[] {
    const replicas = this.#services.get(serviceId);
    if (replicas === undefined) return [];
    const found: Entry[] = [];
    for (const entry of replicas.values()) {
      if (entry.record.health !== "disconnected" && entry.toolNames.has(toolName)) {
        found.push(entry);
      }
    }
    found.sort((a, b) =>
      routeTier(a.record) - routeTier(b.record) ||
      compareCodeUnits(a.record.replica.id, b.record.replica.id)
    );
    return found.map(info);
  }

  /**
   * The catalog a service shows clients: the one shared by the most healthy
   * replicas, then by the most replicas, then the most recently listed. Null
   * when no replica has been listed.
   */
  serviceCatalog(serviceId: string): Catalog | null {
    return this.#serviceCatalog(serviceId)?.catalog ?? null;
  }

  /** Content hash of {@link Registry.serviceCatalog}, or null. */
  serviceCatalogHash(serviceId: string): string | null {
    return this.#serviceCatalog(serviceId)?.hash ?? null;
  }

  /**
   * The resource templates of every service catalog (or of one service),
   * sorted by service then template: the seed's `list_templates(node_id)`.
   */
  resourceTemplates(serviceId?: string): ServiceResourceTemplate[] {
    const out: ServiceResourceTemplate[] = [];
    for (const id of serviceId === undefined ? this.services() : [serviceId]) {
      for (const template of this.serviceCatalog(id)?.resourceTemplates ?? []) {
        out.push({ serviceId: id, template });
      }
    }
    return out;
  }

  /** A tool of the service catalog (its annotations gate retries), or undefined. */
  tool(serviceId: string, toolName: string): CatalogTool | undefined {
    return this.#serviceCatalog(serviceId)?.tools.get(toolName);
  }

  /**
   * Services that can serve `resources/read` of `uri`: services listing it
   * as a concrete resource first (by service id), then services with a
   * matching resource template, the most specific template (most literal
   * characters) first.
   */
  resolveResource(uri: string): ResourceRoute[] {
    const index = this.#resourceIndexNow();
    const routes: ResourceRoute[] = (index.exact.get(uri) ?? []).map((serviceId) => ({
      kind: "resource" as const,
      serviceId,
      uri,
    }));
    for (const { serviceId, template } of index.templates) {
      const variables = template.match(uri);
      if (variables !== null) {
        routes.push({ kind: "template", serviceId, uriTemplate: template.template, variables });
      }
    }
    return routes;
  }

  /** The whole registry as plain JSON. */
  toJSON(): RegistrySnapshot {
    const records: ReplicaRecord[] = [];
    for (const serviceId of this.services()) {
      const replicas = this.#services.get(serviceId)!;
      for (const id of [...replicas.keys()].sort(compareCodeUnits)) {
        records.push(replicas.get(id)!.record);
      }
    }
    return { version: 1, revision: this.#revision, records };
  }

  /** Rebuilds a registry from {@link Registry.toJSON} output. Throws `invalid-snapshot` or `invalid-record`. */
  static fromJSON(snapshot: RegistrySnapshot): Registry {
    if (snapshot === null || typeof snapshot !== "object" || snapshot.version !== 1) {
      throw new RegistryError(
        "invalid-snapshot",
        "registry snapshot: unsupported or missing version",
      );
    }
    if (
      !Number.isSafeInteger(snapshot.revision) || snapshot.revision < 0 ||
      !Array.isArray(snapshot.records)
    ) {
      throw new RegistryError("invalid-snapshot", "registry snapshot: bad revision or records");
    }
    const registry = new Registry();
    for (const record of snapshot.records) {
      const clean = validateReplicaRecord(record);
      if (registry.has(clean.serviceId, clean.replica.id)) {
        throw new RegistryError(
          "invalid-snapshot",
          `registry snapshot: replica ${clean.serviceId}/${clean.replica.id} listed twice`,
        );
      }
      if (clean.catalogRevision > snapshot.revision) {
        throw new RegistryError(
          "invalid-snapshot",
          "registry snapshot: record revision beyond snapshot revision",
        );
      }
      if (registry.#count >= MAX_REPLICAS) {
        throw new RegistryError("capacity", `registry is full (${MAX_REPLICAS} replicas)`);
      }
      registry.#put(clean);
    }
    registry.#revision = snapshot.revision;
    return registry;
  }

  // ------------------------------------------------------------ internals

  #entry(serviceId: string, replicaId: string): Entry {
    const entry = this.#services.get(serviceId)?.get(replicaId);
    if (entry === undefined) {
      throw new RegistryError(
        "unknown-replica",
        `replica ${serviceId}/${replicaId} is not registered`,
      );
    }
    return entry;
  }

  #put(record: ReplicaRecord, canonical?: string): void {
    const { serviceId } = record;
    const id = record.replica.id;
    let replicas = this.#services.get(serviceId);
    if (replicas === undefined) {
      replicas = new Map();
      this.#services.set(serviceId, replicas);
    }
    const previous = replicas.get(id);
    if (previous === undefined) this.#count++;
    else this.#leases.get(previous.record.leaseId)?.delete(joinKey(serviceId, id));
    deepFreeze(record);
    replicas.set(id, {
      record,
      toolNames: new Set(record.catalog?.tools.map((t) => t.name) ?? []),
      canonical,
    });
    let owned = this.#leases.get(record.leaseId);
    if (owned === undefined) {
      owned = new Set();
      this.#leases.set(record.leaseId, owned);
    }
    owned.add(joinKey(serviceId, id));
    this.#pruneLease(previous?.record.leaseId);
    this.#invalidate(serviceId);
  }

  #delete(serviceId: string, replicaId: string): void {
    const replicas = this.#services.get(serviceId);
    const entry = replicas?.get(replicaId);
    if (replicas === undefined || entry === undefined) return;
    replicas.delete(replicaId);
    this.#count--;
    if (replicas.size === 0) this.#services.delete(serviceId);
    this.#leases.get(entry.record.leaseId)?.delete(joinKey(serviceId, replicaId));
    this.#pruneLease(entry.record.leaseId);
    this.#invalidate(serviceId);
  }

  #pruneLease(leaseId: string | undefined): void {
    if (leaseId !== undefined && this.#leases.get(leaseId)?.size === 0) {
      this.#leases.delete(leaseId);
    }
  }

  #invalidate(serviceId: string): void {
    this.#serviceCatalogs.delete(serviceId);
    this.#resourceIndex = null;
  }

  #serviceCatalog(serviceId: string): ServiceCatalog | null {
    if (this.#serviceCatalogs.has(serviceId)) return this.#serviceCatalogs.get(serviceId)!;
    const replicas = this.#services.get(serviceId);
    const groups = new Map<
      string,
      { catalog: Catalog; healthy: number; total: number; revision: number }
    >();
    for (const { record } of replicas?.values() ?? []) {
      if (record.catalog === null || record.catalogHash === null) continue;
      let group = groups.get(record.catalogHash);
      if (group === undefined) {
        group = { catalog: record.catalog, healthy: 0, total: 0, revision: 0 };
        groups.set(record.catalogHash, group);
      }
      if (record.health === "healthy") group.healthy++;
      group.total++;
      group.revision = Math.max(group.revision, record.catalogRevision);
    }
    let best: ServiceCatalog | null = null;
    let bestScore: [number, number, number] = [-1, -1, -1];
    for (const [hash, g] of groups) {
      const score: [number, number, number] = [g.healthy, g.total, g.revision];
      if (compareScores(score, bestScore) > 0) {
        best = {
          catalog: g.catalog,
          hash,
          tools: new Map(g.catalog.tools.map((t) => [t.name, t])),
        };
        bestScore = score;
      }
    }
    if (replicas !== undefined) this.#serviceCatalogs.set(serviceId, best);
    return best;
  }

  #resourceIndexNow(): ResourceIndex {
    if (this.#resourceIndex !== null) return this.#resourceIndex;
    const exact = new Map<string, string[]>();
    const templates: Array<{ serviceId: string; template: UriTemplate }> = [];
    for (const serviceId of this.services()) {
      const catalog = this.serviceCatalog(serviceId);
      if (catalog === null) continue;
      for (const resource of catalog.resources) {
        const list = exact.get(resource.uri);
        if (list === undefined) exact.set(resource.uri, [serviceId]);
        else list.push(serviceId);
      }
      for (const { uriTemplate } of catalog.resourceTemplates) {
        const template = this.#compile(uriTemplate);
        if (template !== null) templates.push({ serviceId, template });
      }
    }
    templates.sort((a, b) =>
      b.template.literalLength - a.template.literalLength ||
      compareCodeUnits(a.serviceId, b.serviceId) ||
      compareCodeUnits(a.template.template, b.template.template)
    );
    this.#resourceIndex = { exact, templates };
    return this.#resourceIndex;
  }

  // A backend may declare a malformed template; it then routes nothing rather than failing the index.
  #compile(text: string): UriTemplate | null {
    if (this.#templateCache.has(text)) return this.#templateCache.get(text)!;
    if (this.#templateCache.size >= MAX_TEMPLATE_CACHE) this.#templateCache.clear();
    let template: UriTemplate | null = null;
    try {
      template = UriTemplate.parse(text);
    } catch (e) {
      if (!(e instanceof UriTemplateError)) throw e;
    }
    this.#templateCache.set(text, template);
    return template;
  }

  #observe(serviceId: string): ServiceObservation | null {
    const replicas = this.#services.get(serviceId);
    if (replicas === undefined) return null;
    const up = new Set<string>();
    for (const [id, entry] of replicas) if (entry.record.health === "healthy") up.add(id);
    const effective = this.#serviceCatalog(serviceId);
    return { up, catalog: effective?.catalog ?? null, hash: effective?.hash ?? null };
  }

  #mutate(serviceIds: string[], change: () => void): RegistryEvent[] {
    const before = serviceIds.map((id) => this.#observe(id));
    change();
    const events: RegistryEvent[] = [];
    serviceIds.forEach((serviceId, i) => {
      const statusOf = (id: string) => this.#services.get(serviceId)?.get(id)?.record.health;
      events.push(...serviceEvents(serviceId, before[i], this.#observe(serviceId), statusOf));
    });
    return events;
  }
}

function serviceEvents(
  serviceId: string,
  before: ServiceObservation | null,
  after: ServiceObservation | null,
  statusOf: (replicaId: string) => HealthStatus | undefined,
): RegistryEvent[] {
  const events: RegistryEvent[] = [];
  if (before === null && after !== null) events.push({ type: "serviceAdded", serviceId });
  const upBefore = before?.up ?? new Set<string>();
  const upAfter = after?.up ?? new Set<string>();
  for (const replicaId of [...upAfter].sort(compareCodeUnits)) {
    if (!upBefore.has(replicaId)) events.push({ type: "replicaUp", serviceId, replicaId });
  }
  for (const replicaId of [...upBefore].sort(compareCodeUnits)) {
    if (!upAfter.has(replicaId)) {
      events.push({
        type: "replicaDown",
        serviceId,
        replicaId,
        status: statusOf(replicaId) ?? "removed",
      });
    }
  }
  const previousHash = before?.hash ?? null;
  const hash = after?.hash ?? null;
  if (previousHash !== hash) {
    events.push({
      type: "catalogChanged",
      serviceId,
      previousHash,
      catalogHash: hash,
      diff: diffCatalogs(before?.catalog ?? null, after?.catalog ?? null),
    });
  }
  if (before !== null && after === null) events.push({ type: "serviceRemoved", serviceId });
  return events;
}

function compareScores(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function info(entry: Entry): ReplicaInfo {
  const r = entry.record;
  return {
    serviceId: r.serviceId,
    id: r.replica.id,
    name: r.replica.name,
    version: r.replica.version,
    transport: r.replica.transport,
    capabilities: r.replica.capabilities,
    metadata: r.replica.metadata,
    status: r.health,
    ejected: r.ejected,
    leaseId: r.leaseId,
    catalogHash: r.catalogHash,
    tools: [...entry.toolNames],
    resources: r.catalog?.resources.map((x) => x.uri) ?? [],
  };
}

// Service and replica ids cannot contain "/", so it separates them unambiguously.
function joinKey(serviceId: string, replicaId: string): string {
  return `${serviceId}/${replicaId}`;
}

function splitKey(key: string): { serviceId: string; replicaId: string } {
  const slash = key.indexOf("/");
  return { serviceId: key.slice(0, slash), replicaId: key.slice(slash + 1) };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
