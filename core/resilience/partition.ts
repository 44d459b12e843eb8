/**
 * What a gateway node may still do when it is cut off from the Raft quorum (in a
 * minority partition). It cannot commit anything, and it cannot know whether the
 * majority side has already moved its sessions or replicas elsewhere, so it keeps
 * serving only what is harmless to serve twice or stale: cached catalogs and
 * read-only or idempotent tool calls. Everything with side effects is refused
 * with an error that says why, instead of hanging or acting on stale ownership.
 *
 * @module
 */
import { mayRunTwice, type ToolSafetyHints } from "./tool_safety.ts";

/** A request, as the partition rule sees it. */
export type PartitionRequest =
  | {
    /** Listing tools, resources, prompts or templates from the node's cached catalog. */
    readonly kind: "catalog";
  }
  | {
    /** A `tools/call` forwarded to a backend. */
    readonly kind: "tool-call";
    /** The tool's name, for the error message. */
    readonly toolName: string;
    /** The tool's MCP annotations. */
    readonly annotations?: ToolSafetyHints;
  }
  | {
    /** A change to replicated cluster state: registering a server, creating a session. */
    readonly kind: "cluster-write";
    /** What was attempted, for the error message (e.g. "create session"). */
    readonly operation: string;
  };

/** The node refuses a side-effecting request because it cannot reach a quorum. */
export class MinorityPartitionError extends Error {
  /** The refusing node. */
  readonly nodeId: string;
  /** The refused operation, e.g. `tools/call "pay"`. */
  readonly operation: string;

  /** Creates the error. */
  constructor(nodeId: string, operation: string) {
    super(
      `gateway node "${nodeId}" is in a minority partition: it cannot reach a quorum of the ` +
        `cluster, so it refused ${operation}, which has side effects. Nothing was executed. ` +
        `Retry through another gateway node, or after the partition heals.`,
    );
    this.name = "MinorityPartitionError";
    this.nodeId = nodeId;
    this.operation = operation;
  }
}

/** The partition rule's answer. */
export type PartitionVerdict =
  | {
    readonly allowed: true;
    /** True when the answer comes from a catalog that may be stale (no quorum). */
    readonly fromStaleCache: boolean;
  }
  | { readonly allowed: false; readonly error: MinorityPartitionError };

/** Everything the partition rule looks at. */
export interface PartitionInput {
  /** This node's id, for the error message. */
  readonly nodeId: string;
  /** Whether the node can currently reach a quorum (see {@link hasQuorumContact}). */
  readonly hasQuorum: boolean;
  /** The request to admit or refuse. */
  readonly request: PartitionRequest;
}

/**
 * The minority-partition rule. With a quorum everything is allowed. Without one:
 * catalogs are served from cache (flagged as possibly stale), read-only and
 * idempotent tool calls go through, and side-effecting tool calls and cluster
 * writes are refused with a {@link MinorityPartitionError}.
 *
 * @example
 * ```ts
 * import { partitionVerdict } from "@safla/core";
 * partitionVerdict({
 *   nodeId: "n3",
 *   hasQuorum: false,
 *   request: { kind: "tool-call", toolName: "search", annotations: { readOnlyHint: true } },
 * }); // { allowed: true, fromStaleCache: false }
 * ```
 */
export function partitionVerdict(input: PartitionInput): PartitionVerdict {
  const { nodeId, hasQuorum, request } = input;
  if (hasQuorum) return { allowed: true, fromStaleCache: false };
  switch (request.kind) {
    case "catalog":
      return { allowed: true, fromStaleCache: true };
    case "tool-call":
      return mayRunTwice(request.annotations) ? { allowed: true, fromStaleCache: false } : {
        allowed: false,
        error: new MinorityPartitionError(nodeId, `tools/call "${request.toolName}"`),
      };
    case "cluster-write":
      return { allowed: false, error: new MinorityPartitionError(nodeId, request.operation) };
  }
}

/** Everything {@link hasQuorumContact} looks at. */
export interface QuorumContactInput {
  /** This node's id; it counts itself when it is a voter. */
  readonly selfId: string;
  /** The voters of the current configuration. */
  readonly voterIds: readonly string[];
  /** When this node last heard from each peer, on its own clock. */
  readonly lastContactMs: ReadonlyMap<string, number>;
  /** The node's clock now. */
  readonly nowMs: number;
  /** A peer heard from within this window counts as reachable (e.g. the election timeout). */
  readonly contactWindowMs: number;
}

/**
 * Whether this node has heard recently from a majority of voters (itself included),
 * the same test Raft's CheckQuorum applies. A node for which this is false should be
 * treated as being in a minority partition.
 *
 * @example
 * ```ts
 * import { hasQuorumContact } from "@safla/core";
 * hasQuorumContact({
 *   selfId: "a",
 *   voterIds: ["a", "b", "c"],
 *   lastContactMs: new Map([["b", 900], ["c", 100]]),
 *   nowMs: 1000,
 *   contactWindowMs: 500,
 * }); // true: a and b form a majority
 * ```
 */
export function hasQuorumContact(input: QuorumContactInput): boolean {
  const { selfId, voterIds, lastContactMs, nowMs, contactWindowMs } = input;
  if (voterIds.length === 0) return false;
  let reachable = 0;
  for (const id of voterIds) {
    if (id === selfId) {
      reachable += 1;
      continue;
    }
    const heardMs = lastContactMs.get(id);
    if (heardMs !== undefined && nowMs - heardMs <= contactWindowMs) reachable += 1;
  }
  return reachable * 2 > voterIds.length;
}
