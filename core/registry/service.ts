/**
 * Services and replicas. A service is one logical MCP server, known to
 * clients by its id; it runs as a replica set, each replica a backend the
 * gateway reaches over stdio, Streamable HTTP or the legacy SSE transport.
 * Replicas of one service are interchangeable: the gateway shows their tools
 * once and balances calls across them.
 *
 * @module
 */

import {
  canonicalJson,
  CanonicalJsonError,
  type JsonObject,
  type JsonValue,
} from "./content_hash.ts";

/** A backend launched as a child process speaking MCP on stdin/stdout. */
export interface StdioTransport {
  /** Transport kind. */
  kind: "stdio";
  /** Executable to run. */
  command: string;
  /** Arguments, in order. */
  args: string[];
  /** Extra environment variables. */
  env: Record<string, string>;
  /** Working directory, when not the gateway's. */
  cwd?: string;
}

/** A backend reached over HTTP: Streamable HTTP (2025+) or the legacy HTTP+SSE transport. */
export interface HttpTransport {
  /** Transport kind. */
  kind: "streamable-http" | "sse";
  /** Endpoint URL (http or https). */
  url: string;
  /** Headers sent with every request, e.g. authorization. */
  headers: Record<string, string>;
}

/** How the gateway reaches a replica. */
export type Transport = StdioTransport | HttpTransport;

/** One backend of a service (the seed's `MCPNodeInfo`, minus status, which the registry tracks). */
export interface ReplicaSpec {
  /** Unique within its service; no `/` (it is part of registry keys). */
  id: string;
  /** Server name (as the backend reports it in `serverInfo`, or configured). */
  name: string;
  /** Server version. */
  version: string;
  /** How to reach it. */
  transport: Transport;
  /** MCP server capabilities, e.g. `{ tools: { listChanged: true } }`. */
  capabilities: JsonObject;
  /** Free-form labels (region, zone, weight...). */
  metadata: JsonObject;
}

/** Thrown when a service id or replica is invalid; `field` names the offending field. */
export class ServiceValidationError extends Error {
  /** Dotted path of the field, e.g. `"transport.url"` or `"serviceId"`. */
  readonly field: string;

  /** Creates the error for `field`. */
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = "ServiceValidationError";
    this.field = field;
  }
}

/** Service ids: a letter or digit, then letters, digits, `.`, `_` or `-`; at most 64 characters. */
export const SERVICE_ID_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Replica ids: as service ids, also allowing `:` (host:port), at most 128 characters. */
export const REPLICA_ID_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** Longest name, version, command, argument or header value accepted. */
export const MAX_FIELD_LENGTH = 4096;
/** Most arguments, environment variables or headers accepted. */
export const MAX_LIST_ENTRIES = 256;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Checks a service id and returns it.
 *
 * @example
 * ```ts
 * import { validateServiceId } from "./service.ts";
 * validateServiceId("github");
 * ```
 */
export function validateServiceId(id: unknown, field = "serviceId"): string {
  if (typeof id !== "string" || !SERVICE_ID_PATTERN.test(id)) {
    throw new ServiceValidationError(
      field,
      `must match ${SERVICE_ID_PATTERN.source}, got ${JSON.stringify(id)}`,
    );
  }
  return id;
}

/**
 * Checks a replica id and returns it.
 *
 * @example
 * ```ts
 * import { validateReplicaId } from "./service.ts";
 * validateReplicaId("10.0.0.7:3000");
 * ```
 */
export function validateReplicaId(id: unknown, field = "id"): string {
  if (typeof id !== "string" || !REPLICA_ID_PATTERN.test(id)) {
    throw new ServiceValidationError(
      field,
      `must match ${REPLICA_ID_PATTERN.source}, got ${JSON.stringify(id)}`,
    );
  }
  return id;
}

/**
 * Checks a replica and returns a clean copy (no extra fields, no shared
 * references). Throws {@link ServiceValidationError} naming the first bad field.
 *
 * @example
 * ```ts
 * import { validateReplica } from "./service.ts";
 * const r = validateReplica({
 *   id: "r1", name: "echo", version: "1.0.0",
 *   transport: { kind: "streamable-http", url: "http://127.0.0.1:3001/mcp", headers: {} },
 *   capabilities: { tools: {} }, metadata: {},
 * });
 * console.assert(r.transport.kind === "streamable-http");
 * ```
 */
export function validateReplica(value: unknown): ReplicaSpec {
  const r = object(value, "replica");
  return {
    id: validateReplicaId(r.id),
    name: text(r.name, "name"),
    version: text(r.version, "version"),
    transport: validateTransport(r.transport),
    capabilities: json(r.capabilities, "capabilities"),
    metadata: json(r.metadata, "metadata"),
  };
}

/** Checks a transport and returns a clean copy; field names in errors start with `transport.`. */
export function validateTransport(value: unknown): Transport {
  const t = object(value, "transport");
  switch (t.kind) {
    case "stdio": {
      const transport: StdioTransport = {
        kind: "stdio",
        command: text(t.command, "transport.command"),
        args: strings(t.args, "transport.args"),
        env: stringMap(t.env, "transport.env", (key, field) => {
          if (key === "" || key.includes("=") || key.includes("\0")) {
            throw new ServiceValidationError(
              field,
              `environment variable name ${JSON.stringify(key)} is invalid`,
            );
          }
        }),
      };
      if (t.cwd !== undefined) transport.cwd = text(t.cwd, "transport.cwd");
      return transport;
    }
    case "streamable-http":
    case "sse":
      return {
        kind: t.kind,
        url: httpUrl(t.url, "transport.url"),
        headers: stringMap(t.headers, "transport.headers", (key, field) => {
          if (!HEADER_NAME.test(key)) {
            throw new ServiceValidationError(
              field,
              `header name ${JSON.stringify(key)} is not an HTTP token`,
            );
          }
        }),
      };
    default:
      throw new ServiceValidationError(
        "transport.kind",
        `must be "stdio", "streamable-http" or "sse", got ${JSON.stringify(t.kind)}`,
      );
  }
}

/**
 * Whether `capabilities` satisfy `filter`, the seed's `discover_nodes`
 * capability filter made structural: every key of the filter must be present,
 * objects match recursively (so `{ tools: {} }` means "offers tools"), any
 * other value must be equal.
 *
 * @example
 * ```ts
 * import { matchesCapabilities } from "./service.ts";
 * const caps = { tools: { listChanged: true }, resources: { subscribe: false } };
 * console.assert(matchesCapabilities(caps, { tools: {} }));
 * console.assert(!matchesCapabilities(caps, { resources: { subscribe: true } }));
 * ```
 */
export function matchesCapabilities(capabilities: JsonValue, filter: JsonValue): boolean {
  if (filter !== null && typeof filter === "object" && !Array.isArray(filter)) {
    if (capabilities === null || typeof capabilities !== "object" || Array.isArray(capabilities)) {
      return false;
    }
    for (const [key, wanted] of Object.entries(filter)) {
      if (!Object.hasOwn(capabilities, key)) return false;
      if (!matchesCapabilities(capabilities[key], wanted)) return false;
    }
    return true;
  }
  return canonicalJson(capabilities) === canonicalJson(filter);
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ServiceValidationError(field, "must be an object");
  }
  return value as Record<string, unknown>;
}

function text(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ServiceValidationError(field, "must be a non-empty string");
  }
  if (value.length > MAX_FIELD_LENGTH) {
    throw new ServiceValidationError(field, `is longer than ${MAX_FIELD_LENGTH} characters`);
  }
  return value;
}

function strings(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) throw new ServiceValidationError(field, "must be an array of strings");
  if (value.length > MAX_LIST_ENTRIES) {
    throw new ServiceValidationError(field, `has more than ${MAX_LIST_ENTRIES} entries`);
  }
  return value.map((item, i) => {
    if (typeof item !== "string" || item.length > MAX_FIELD_LENGTH) {
      throw new ServiceValidationError(
        `${field}.${i}`,
        `must be a string of at most ${MAX_FIELD_LENGTH} characters`,
      );
    }
    return item;
  });
}

function stringMap(
  value: unknown,
  field: string,
  checkKey: (key: string, field: string) => void,
): Record<string, string> {
  const map = object(value, field);
  const entries = Object.entries(map);
  if (entries.length > MAX_LIST_ENTRIES) {
    throw new ServiceValidationError(field, `has more than ${MAX_LIST_ENTRIES} entries`);
  }
  const out: Record<string, string> = {};
  for (const [key, v] of entries) {
    checkKey(key, `${field}.${key}`);
    if (typeof v !== "string" || v.length > MAX_FIELD_LENGTH) {
      throw new ServiceValidationError(
        `${field}.${key}`,
        `must be a string of at most ${MAX_FIELD_LENGTH} characters`,
      );
    }
    out[key] = v;
  }
  return out;
}

function httpUrl(value: unknown, field: string): string {
  const raw = text(value, field);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ServiceValidationError(field, `is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ServiceValidationError(
      field,
      `must use http or https, got ${JSON.stringify(url.protocol)}`,
    );
  }
  return raw;
}

function json(value: unknown, field: string): JsonObject {
  const obj = object(value, field);
  try {
    return JSON.parse(canonicalJson(obj)) as JsonObject;
  } catch (e) {
    if (e instanceof CanonicalJsonError) {
      throw new ServiceValidationError(
        e.path === "" ? field : `${field}.${e.path}`,
        "is not plain JSON",
      );
    }
    throw e;
  }
}
