/**
 * Names under which the gateway exposes the tools and prompts of its services.
 *
 * Clients see one flat namespace, so each backend name is qualified as
 * `{service}{separator}{name}`, or left as-is in passthrough mode when it is
 * unique across services. Many clients reject tool names longer than 64
 * characters, so long names are cut deterministically and end in a short hash
 * of the full name. Two entries that would share a name are both kept under
 * distinct names and the clash is reported: a gateway that drops a tool
 * silently leaves users guessing.
 *
 * @module
 */

/** How names are exposed. */
export type NamingMode = "prefixed" | "passthrough";

/** Options of {@link exposeNames}. */
export interface NamingOptions {
  /** Put between service and name, e.g. `"__"`. Must be non-empty. */
  separator: string;
  /**
   * `"prefixed"` always qualifies; `"passthrough"` keeps names that are unique
   * across services and qualifies only the others.
   */
  mode: NamingMode;
  /** Longest exposed name, in UTF-16 code units; at least {@link MIN_MAX_NAME_LENGTH}. */
  maxLength: number;
}

/** The defaults: `__` separator, prefixed mode, 64 characters. */
export const DEFAULT_NAMING: Readonly<NamingOptions> = Object.freeze({
  separator: "__",
  mode: "prefixed",
  maxLength: 64,
});

/** Hash suffix length: `_` plus 8 hex digits. */
const HASH_SUFFIX_LENGTH = 9;

/** Smallest `maxLength` that leaves room for a hash suffix and a readable stem. */
export const MIN_MAX_NAME_LENGTH = HASH_SUFFIX_LENGTH + 7;

/** A name as a backend service declares it. */
export interface QualifiedName {
  /** The logical service (a replica set shares one service name). */
  service: string;
  /** The tool or prompt name as the backend declares it. */
  name: string;
}

/** One backend name and the name clients see. */
export interface ExposedName extends QualifiedName {
  /** Unique among all exposed names, at most `maxLength` long. */
  exposed: string;
}

/** Two or more backend names that would have been exposed under one name. */
export interface NameCollision {
  /** The name they all wanted. */
  wanted: string;
  /** Every claimant, each with the distinct name it got instead. */
  claimants: ExposedName[];
}

/** Result of {@link exposeNames}. */
export interface NameTable {
  /** One entry per distinct input, sorted by service then name. */
  names: ExposedName[];
  /** Clashes that were resolved by disambiguation; empty when none. */
  collisions: NameCollision[];
  /** Looks up the backend name behind an exposed name. */
  resolve(exposed: string): QualifiedName | undefined;
}

/** Thrown when naming options are unusable. */
export class NamingOptionsError extends Error {
  /** Creates the error; `message` says which option is wrong and why. */
  constructor(message: string) {
    super(message);
    this.name = "NamingOptionsError";
  }
}

/**
 * 32-bit FNV-1a over UTF-16 code units, as 8 hex digits. Not cryptographic:
 * it only has to spread similar names apart and be stable across versions.
 */
export function shortHash(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, "0");
}

/** Cuts `text` to at most `length` code units without splitting a surrogate pair. */
function cut(text: string, length: number): string {
  if (text.length <= length) return text;
  let end = length;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end);
}

/**
 * Fits `name` within `maxLength`: unchanged when short enough, otherwise a cut
 * stem followed by `_` and the hash of `hashSource` (the full name by default).
 *
 * @example
 * ```ts
 * import { fitName } from "@safla/core/registry";
 * const long = "weather__" + "x".repeat(80);
 * console.assert(fitName(long, 64).length === 64);
 * console.assert(fitName("short", 64) === "short");
 * ```
 */
export function fitName(name: string, maxLength: number, hashSource: string = name): string {
  if (name.length <= maxLength) return name;
  return `${cut(name, maxLength - HASH_SUFFIX_LENGTH)}_${shortHash(hashSource)}`;
}

function validate(options: NamingOptions): void {
  if (options.separator.length === 0) {
    throw new NamingOptionsError("naming.separator must be a non-empty string");
  }
  if (!Number.isSafeInteger(options.maxLength) || options.maxLength < MIN_MAX_NAME_LENGTH) {
    throw new NamingOptionsError(
      `naming.maxLength must be an integer >= ${MIN_MAX_NAME_LENGTH}, got ${options.maxLength}`,
    );
  }
  if (options.mode !== "prefixed" && options.mode !== "passthrough") {
    throw new NamingOptionsError(
      `naming.mode must be "prefixed" or "passthrough", got ${JSON.stringify(options.mode)}`,
    );
  }
}

function compareQualified(a: QualifiedName, b: QualifiedName): number {
  if (a.service !== b.service) return a.service < b.service ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return 0;
}

/**
 * Assigns every backend name a unique client-facing name. The result depends
 * only on the set of inputs (not their order); duplicates of one
 * (service, name) pair, as replicas report them, count once.
 *
 * @example
 * ```ts
 * import { exposeNames } from "@safla/core/registry";
 * const table = exposeNames(
 *   [{ service: "git", name: "status" }, { service: "fs", name: "read" }],
 *   { separator: "__", mode: "prefixed", maxLength: 64 },
 * );
 * console.assert(table.resolve("git__status")?.name === "status");
 * ```
 */
export function exposeNames(
  entries: Iterable<QualifiedName>,
  options: NamingOptions = DEFAULT_NAMING,
): NameTable {
  validate(options);
  const unique = new Map<string, QualifiedName>();
  for (const e of entries) {
    unique.set(`${e.service}\u0000${e.name}`, { service: e.service, name: e.name });
  }
  const sorted = [...unique.values()].sort(compareQualified);

  const servicesByName = new Map<string, number>();
  for (const e of sorted) servicesByName.set(e.name, (servicesByName.get(e.name) ?? 0) + 1);

  const wanted = sorted.map((e) => {
    const bare = options.mode === "passthrough" && servicesByName.get(e.name) === 1;
    return fitName(bare ? e.name : `${e.service}${options.separator}${e.name}`, options.maxLength);
  });

  const claims = new Map<string, number[]>();
  wanted.forEach((w, i) => {
    const list = claims.get(w);
    if (list) list.push(i);
    else claims.set(w, [i]);
  });

  const exposed = [...wanted];
  const taken = new Set(claims.keys());
  const collisions: NameCollision[] = [];
  for (const [name, indices] of claims) {
    if (indices.length < 2) continue;
    taken.delete(name);
    for (const i of indices) {
      const e = sorted[i];
      exposed[i] = disambiguate(name, e, options.maxLength, taken);
      taken.add(exposed[i]);
    }
    collisions.push({
      wanted: name,
      claimants: indices.map((i) => ({ ...sorted[i], exposed: exposed[i] })),
    });
  }

  const names = sorted.map((e, i) => ({ ...e, exposed: exposed[i] }));
  const byExposed = new Map<string, QualifiedName>();
  for (const n of names) {
    if (byExposed.has(n.exposed)) throw new Error(`naming invariant: ${n.exposed} assigned twice`);
    if (n.exposed.length > options.maxLength) {
      throw new Error(`naming invariant: ${n.exposed} exceeds ${options.maxLength}`);
    }
    byExposed.set(n.exposed, { service: n.service, name: n.name });
  }
  return {
    names,
    collisions,
    resolve: (name) => byExposed.get(name),
  };
}

/**
 * A distinct name for one claimant of a clash: the wanted stem with a hash of
 * the claimant's identity, and a counter in the (astronomically rare) case
 * that the hash clashes too. The counter is bounded by the number of names.
 */
function disambiguate(
  wanted: string,
  entry: QualifiedName,
  maxLength: number,
  taken: ReadonlySet<string>,
): string {
  const identity = `${entry.service}\u0000${entry.name}`;
  for (let attempt = 0; attempt <= taken.size + 1; attempt++) {
    const source = attempt === 0 ? identity : `${identity}\u0000${attempt}`;
    const candidate = `${cut(wanted, maxLength - HASH_SUFFIX_LENGTH)}_${shortHash(source)}`;
    if (!taken.has(candidate)) return candidate;
  }
  throw new Error(`naming invariant: no free name for ${entry.service}/${entry.name}`);
}
