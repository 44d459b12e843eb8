/**
 * A replica's catalog: what one MCP server offers (tools, resources, resource
 * templates, prompts), its content hash and the difference between two
 * catalogs.
 *
 * The lists of a catalog are sets keyed by name (by URI for resources, by URI
 * template for templates): order does not change the hash. Everything inside
 * an entry is hashed as given, with object keys sorted, so a changed
 * description or input schema is a changed catalog.
 *
 * @module
 */

import { canonicalJson, compareCodeUnits, contentHash, type JsonObject } from "./content_hash.ts";

/** MCP tool annotations: hints about a tool's behaviour (spec `ToolAnnotations`). */
export interface ToolAnnotations {
  /** Human-readable title. */
  title?: string;
  /** The tool does not modify its environment. */
  readOnlyHint?: boolean;
  /** The tool may perform destructive updates. */
  destructiveHint?: boolean;
  /** Calling the tool twice with the same arguments has no additional effect. */
  idempotentHint?: boolean;
  /** The tool interacts with an open world of external entities. */
  openWorldHint?: boolean;
}

/** A tool as the backend lists it in `tools/list`. */
export interface CatalogTool {
  /** Name as the backend declares it (unique within a catalog). */
  name: string;
  /** Display title. */
  title?: string;
  /** What the tool does. */
  description?: string;
  /** JSON Schema of the arguments. */
  inputSchema: JsonObject;
  /** JSON Schema of the structured result, when declared. */
  outputSchema?: JsonObject;
  /** Behaviour hints; retries and hedging are gated on them. */
  annotations?: ToolAnnotations;
  /** Opaque metadata the backend attached. */
  _meta?: JsonObject;
}

/** A concrete resource as listed in `resources/list`. */
export interface CatalogResource {
  /** The resource URI (unique within a catalog). */
  uri: string;
  /** Programmatic name. */
  name: string;
  /** Display title. */
  title?: string;
  /** What the resource is. */
  description?: string;
  /** Media type of the content. */
  mimeType?: string;
  /** Size of the raw content, when known. */
  size?: number;
  /** Opaque metadata the backend attached. */
  _meta?: JsonObject;
}

/** A parameterised resource as listed in `resources/templates/list`. */
export interface CatalogResourceTemplate {
  /** RFC 6570 URI template (unique within a catalog). */
  uriTemplate: string;
  /** Programmatic name. */
  name: string;
  /** Display title. */
  title?: string;
  /** What the resources are. */
  description?: string;
  /** Media type of every matching resource. */
  mimeType?: string;
  /** Opaque metadata the backend attached. */
  _meta?: JsonObject;
}

/** One argument of a prompt. */
export interface CatalogPromptArgument {
  /** Argument name. */
  name: string;
  /** What the argument means. */
  description?: string;
  /** Whether the argument must be given. */
  required?: boolean;
}

/** A prompt as listed in `prompts/list`. */
export interface CatalogPrompt {
  /** Name as the backend declares it (unique within a catalog). */
  name: string;
  /** Display title. */
  title?: string;
  /** What the prompt does. */
  description?: string;
  /** Arguments, in the order the backend declares them. */
  arguments?: CatalogPromptArgument[];
  /** Opaque metadata the backend attached. */
  _meta?: JsonObject;
}

/** Everything one replica offers. */
export interface Catalog {
  /** Tools, a set keyed by `name`. */
  tools: CatalogTool[];
  /** Concrete resources, a set keyed by `uri`. */
  resources: CatalogResource[];
  /** Resource templates, a set keyed by `uriTemplate`. */
  resourceTemplates: CatalogResourceTemplate[];
  /** Prompts, a set keyed by `name`. */
  prompts: CatalogPrompt[];
}

/** The four lists of a catalog. */
export type CatalogKind = keyof Catalog;

/** All catalog kinds, in a fixed order. */
export const CATALOG_KINDS: readonly CatalogKind[] = Object.freeze([
  "tools",
  "resources",
  "resourceTemplates",
  "prompts",
]);

/** Thrown when a catalog is malformed, e.g. two tools share a name. */
export class CatalogError extends Error {
  /** The list that is wrong. */
  readonly kind: CatalogKind;
  /** The key (name, URI or template) involved, when there is one. */
  readonly key: string | undefined;

  /** Creates the error for list `kind`. */
  constructor(kind: CatalogKind, key: string | undefined, reason: string) {
    super(`catalog ${kind}${key === undefined ? "" : ` "${key}"`}: ${reason}`);
    this.name = "CatalogError";
    this.kind = kind;
    this.key = key;
  }
}

/** Most entries accepted in one list of a catalog. */
export const MAX_CATALOG_ENTRIES = 10_000;

/**
 * Returns the identifying key of an entry: `name` for tools and prompts,
 * `uri` for resources, `uriTemplate` for templates.
 */
export function catalogEntryKey(kind: CatalogKind, entry: unknown): string {
  const field = kind === "resources"
    ? "uri"
    : kind === "resourceTemplates"
    ? "uriTemplate"
    : "name";
  const key = (entry as Record<string, unknown> | null)?.[field];
  if (typeof key !== "string" || key === "") {
    throw new CatalogError(kind, undefined, `entry lacks a non-empty string "${field}"`);
  }
  return key;
}

/**
 * Returns an empty catalog.
 *
 * @example
 * ```ts
 * import { emptyCatalog } from "./catalog.ts";
 * console.assert(emptyCatalog().tools.length === 0);
 * ```
 */
export function emptyCatalog(): Catalog {
  return { tools: [], resources: [], resourceTemplates: [], prompts: [] };
}

/**
 * Validates `catalog` and returns a copy whose lists are sorted by key and
 * whose entries have round-tripped through canonical JSON (no `undefined`
 * fields, no shared references). Tool annotation hints that are not booleans
 * are dropped: retries are gated on them, and `"false"` must not read as true. Throws {@link CatalogError} on a missing
 * list, a missing key, a duplicate key or too many entries, and
 * `CanonicalJsonError` on a value JSON cannot carry.
 *
 * @example
 * ```ts
 * import { normalizeCatalog } from "./catalog.ts";
 * const c = normalizeCatalog({
 *   tools: [{ name: "b", inputSchema: {} }, { name: "a", inputSchema: {} }],
 *   resources: [], resourceTemplates: [], prompts: [],
 * });
 * console.assert(c.tools[0].name === "a");
 * ```
 */
export function normalizeCatalog(catalog: Catalog): Catalog {
  if (catalog === null || typeof catalog !== "object") {
    throw new CatalogError("tools", undefined, "catalog is not an object");
  }
  const out = emptyCatalog();
  for (const kind of CATALOG_KINDS) {
    const list: unknown = catalog[kind];
    if (!Array.isArray(list)) throw new CatalogError(kind, undefined, "is not an array");
    if (list.length > MAX_CATALOG_ENTRIES) {
      throw new CatalogError(
        kind,
        undefined,
        `has ${list.length} entries, more than ${MAX_CATALOG_ENTRIES}`,
      );
    }
    const keyed = list.map((entry) => ({ key: catalogEntryKey(kind, entry), entry }));
    keyed.sort((a, b) => compareCodeUnits(a.key, b.key));
    for (let i = 1; i < keyed.length; i++) {
      if (keyed[i].key === keyed[i - 1].key) {
        throw new CatalogError(kind, keyed[i].key, "is listed twice");
      }
    }
    if (kind === "tools") {
      for (const { key, entry } of keyed) {
        const schema = (entry as { inputSchema?: unknown }).inputSchema;
        if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
          throw new CatalogError(kind, key, "inputSchema is not a JSON object");
        }
      }
    }
    const copies = keyed.map(({ entry }) => JSON.parse(canonicalJson(entry)));
    if (kind === "tools") { for (const tool of copies) sanitizeAnnotations(tool); }
    (out[kind] as unknown[]) = copies;
  }
  return out;
}

const HINTS = ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const;

// Retries are gated on these hints, so a hint that is not a boolean (say the
// string "false") must not read as truthy: it is dropped, which means "unknown".
function sanitizeAnnotations(tool: Record<string, unknown>): void {
  const annotations = tool.annotations;
  if (annotations === undefined) return;
  if (annotations === null || typeof annotations !== "object" || Array.isArray(annotations)) {
    delete tool.annotations;
    return;
  }
  const a = annotations as Record<string, unknown>;
  for (const hint of HINTS) if (hint in a && typeof a[hint] !== "boolean") delete a[hint];
  if ("title" in a && typeof a.title !== "string") delete a.title;
}

/**
 * The content hash of a catalog (16 hex digits): equal for catalogs with the
 * same entries in any list order, different (with overwhelming likelihood)
 * when any entry differs.
 *
 * @example
 * ```ts
 * import { catalogHash, emptyCatalog } from "./catalog.ts";
 * const a = { ...emptyCatalog(), tools: [{ name: "x", inputSchema: {} }, { name: "y", inputSchema: {} }] };
 * const b = { ...emptyCatalog(), tools: [{ name: "y", inputSchema: {} }, { name: "x", inputSchema: {} }] };
 * console.assert(catalogHash(a) === catalogHash(b));
 * ```
 */
export function catalogHash(catalog: Catalog): string {
  return contentHash(normalizeCatalog(catalog));
}

/** What changed in one list between two catalogs; each array sorted by key. */
export interface CatalogKindDiff {
  /** Keys only in the newer catalog. */
  added: string[];
  /** Keys only in the older catalog. */
  removed: string[];
  /** Keys in both whose entries differ. */
  changed: string[];
}

/** What changed between two catalogs, and which MCP list_changed notifications that calls for. */
export interface CatalogDiff {
  /** Per-list differences. */
  tools: CatalogKindDiff;
  /** Per-list differences. */
  resources: CatalogKindDiff;
  /** Per-list differences. */
  resourceTemplates: CatalogKindDiff;
  /** Per-list differences. */
  prompts: CatalogKindDiff;
  /**
   * Which `notifications/{tools,resources,prompts}/list_changed` to send.
   * Templates changes count as resource changes, as in the MCP spec.
   */
  listChanged: { tools: boolean; resources: boolean; prompts: boolean };
}

/**
 * Compares two catalogs entry by entry. `null` stands for "no catalog" (a
 * replica not yet listed, or gone): everything in the other one counts as
 * added or removed.
 *
 * @example
 * ```ts
 * import { diffCatalogs, emptyCatalog } from "./catalog.ts";
 * const after = { ...emptyCatalog(), tools: [{ name: "echo", inputSchema: {} }] };
 * const d = diffCatalogs(emptyCatalog(), after);
 * console.assert(d.tools.added[0] === "echo" && d.listChanged.tools && !d.listChanged.prompts);
 * ```
 */
export function diffCatalogs(before: Catalog | null, after: Catalog | null): CatalogDiff {
  const a = before ?? emptyCatalog();
  const b = after ?? emptyCatalog();
  const tools = diffKind("tools", a.tools, b.tools);
  const resources = diffKind("resources", a.resources, b.resources);
  const resourceTemplates = diffKind("resourceTemplates", a.resourceTemplates, b.resourceTemplates);
  const prompts = diffKind("prompts", a.prompts, b.prompts);
  return {
    tools,
    resources,
    resourceTemplates,
    prompts,
    listChanged: {
      tools: !isEmptyDiff(tools),
      resources: !isEmptyDiff(resources) || !isEmptyDiff(resourceTemplates),
      prompts: !isEmptyDiff(prompts),
    },
  };
}

/** True when `diff` records no change at all. */
export function isCatalogDiffEmpty(diff: CatalogDiff): boolean {
  return CATALOG_KINDS.every((kind) => isEmptyDiff(diff[kind]));
}

function isEmptyDiff(d: CatalogKindDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0;
}

function diffKind(kind: CatalogKind, before: unknown[], after: unknown[]): CatalogKindDiff {
  const old = indexByKey(kind, before);
  const now = indexByKey(kind, after);
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [key, text] of now) {
    const previous = old.get(key);
    if (previous === undefined) added.push(key);
    else if (previous !== text) changed.push(key);
  }
  for (const key of old.keys()) if (!now.has(key)) removed.push(key);
  added.sort(compareCodeUnits);
  removed.sort(compareCodeUnits);
  changed.sort(compareCodeUnits);
  return { added, removed, changed };
}

function indexByKey(kind: CatalogKind, list: unknown[]): Map<string, string> {
  const index = new Map<string, string>();
  for (const entry of list) {
    const key = catalogEntryKey(kind, entry);
    if (index.has(key)) throw new CatalogError(kind, key, "is listed twice");
    index.set(key, canonicalJson(entry));
  }
  return index;
}
