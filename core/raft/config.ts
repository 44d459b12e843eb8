/**
 * The configuration of one Raft node and its validation.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import type { ReadOnlyOption } from "./read_only.ts";
import type { Storage } from "./storage.ts";
import type { NodeId } from "./types.ts";
import { ConfigError } from "../config_error.ts";

export { ConfigError };

/** The `source` of a {@link ConfigError} about a Raft {@link Config}. */
const RAFT_CONFIG = "raft config";

/**
 * Deliberately broken rules, existing ONLY so that the simulator can prove its
 * checkers catch the bug they describe (mutation testing). Never enable them
 * outside such a test: each one breaks Raft's safety.
 */
export interface TestingBugs {
  /**
   * The leader commits entries of previous terms by counting replicas, which
   * the Raft paper (§5.4.2, Figure 8) shows can lose committed entries.
   */
  commitPreviousTermByCounting?: boolean;
  /**
   * Under {@link Config.asyncLeaderAppend}, the leader counts its own new
   * entries towards the commit quorum as soon as it appends them, before they
   * are persisted: a leader crash can then lose an entry a quorum was counted
   * as holding (Raft thesis §10.2.1).
   */
  leaderCountsSelfBeforeDurable?: boolean;
  /**
   * The cluster node applies committed entries ahead of their write even when
   * they are not durable as they are (not yet stored, or about to be
   * overwritten by the write in flight); read by `ClusterNode` through
   * `ClusterNodeConfig.testingBugs`, not by Raft itself.
   */
  commitAheadBeforeDurable?: boolean;
}

/** Parameters of a Raft node. Fields with a default may be omitted. */
export interface Config {
  /** This node's id; non-empty. */
  id: NodeId;
  /** Ticks without hearing from a leader before a follower starts an election. */
  electionTicks: number;
  /** Ticks between the leader's heartbeats; must be less than `electionTicks`. */
  heartbeatTicks: number;
  /** Persisted log, hard state and snapshot. */
  storage: Storage;
  /** The source of randomized election timeouts; the core never reads a global random source. */
  rng: Rng;
  /** Index already applied to the state machine on restart (default 0). */
  applied?: number;
  /** Byte budget of entries per append message (default 1 MiB); 0 sends one entry per message. */
  maxSizePerMsgBytes?: number;
  /** Byte budget of committed entries handed out per Ready (default `maxSizePerMsgBytes`, at least one entry). */
  maxCommittedSizePerReadyBytes?: number;
  /** Payload bytes a leader may hold uncommitted before dropping proposals (default unlimited). */
  maxUncommittedEntriesSizeBytes?: number;
  /** Append messages in flight to one follower (default 256). */
  maxInflightMsgs?: number;
  /** Payload bytes in flight to one follower, 0 for unlimited (default 0). */
  maxInflightBytes?: number;
  /** Leader steps down when it has not heard from a quorum in an election timeout (default false). */
  checkQuorum?: boolean;
  /**
   * Ticks a leader goes without hearing from a quorum before CheckQuorum makes
   * it step down (default `electionTicks`). Longer lets a leader ride out
   * followers that all stall at once (each applying the same huge command)
   * without lengthening failover, which followers' election timeouts decide.
   * Lease-based reads need it at most `electionTicks`: the leader must give
   * up its lease before followers stop honouring it.
   */
  checkQuorumTicks?: number;
  /** Run a pre-election before bumping the term, so a partitioned node cannot disrupt (default false). */
  preVote?: boolean;
  /** How ReadIndex reads are confirmed (default "safe"); "leaseBased" requires `checkQuorum`. */
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader (default false). */
  disableProposalForwarding?: boolean;
  /** A leader removed from the configuration (or demoted to learner) steps down (default true). */
  stepDownOnRemoval?: boolean;
  /**
   * The leader may send appends before its own write of the same entries is
   * durable (default false). Its own log then counts towards the commit quorum
   * only from `RawNode.advance()` of the Ready that carried the entries, so
   * a leader crash cannot lose an entry a quorum was counted as holding.
   */
  asyncLeaderAppend?: boolean;
  /** Mutation-testing hook for the simulator; see {@link TestingBugs}. Off by default. */
  testingBugs?: TestingBugs;
}

/** A {@link Config} with every default filled in. */
export type ResolvedConfig = Required<Omit<Config, "testingBugs">> & { testingBugs: TestingBugs };

/** Default of {@link Config.maxSizePerMsgBytes}. */
export const DEFAULT_MAX_SIZE_PER_MSG_BYTES = 1024 * 1024;
/** Default of {@link Config.maxInflightMsgs}. */
export const DEFAULT_MAX_INFLIGHT_MSGS = 256;

function requireInteger(field: keyof Config, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(RAFT_CONFIG, field, `must be a safe integer >= ${min}, got ${value}`);
  }
}

function requireBudget(field: keyof Config, value: number): void {
  if (value !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(value) || value < 0)) {
    throw new ConfigError(
      RAFT_CONFIG,
      field,
      `must be a non-negative safe integer or Infinity, got ${value}`,
    );
  }
}

/**
 * Checks `config` and fills in defaults. Throws {@link ConfigError} naming the
 * first invalid field.
 *
 * @example
 * ```ts
 * import { MemoryStorage, validateConfig } from "@safla/core/raft";
 * import { SeededRng } from "@safla/core";
 * const c = validateConfig({
 *   id: "n1", electionTicks: 10, heartbeatTicks: 1,
 *   storage: new MemoryStorage(), rng: new SeededRng(1),
 * });
 * console.assert(c.maxInflightMsgs === 256);
 * ```
 */
export function validateConfig(config: Config): ResolvedConfig {
  if (typeof config.id !== "string" || config.id === "") {
    throw new ConfigError(RAFT_CONFIG, "id", "must be a non-empty string");
  }
  requireInteger("heartbeatTicks", config.heartbeatTicks, 1);
  requireInteger("electionTicks", config.electionTicks, 1);
  if (config.electionTicks <= config.heartbeatTicks) {
    throw new ConfigError(
      RAFT_CONFIG,
      "electionTicks",
      `must be greater than heartbeatTicks (${config.heartbeatTicks}), got ${config.electionTicks}`,
    );
  }
  if (config.storage === undefined || config.storage === null) {
    throw new ConfigError(RAFT_CONFIG, "storage", "is required");
  }
  if (config.rng === undefined || config.rng === null || typeof config.rng.int !== "function") {
    throw new ConfigError(RAFT_CONFIG, "rng", "is required (an Rng, e.g. SeededRng)");
  }
  const applied = config.applied ?? 0;
  requireInteger("applied", applied, 0);
  const maxSizePerMsgBytes = config.maxSizePerMsgBytes ?? DEFAULT_MAX_SIZE_PER_MSG_BYTES;
  requireBudget("maxSizePerMsgBytes", maxSizePerMsgBytes);
  const maxCommittedSizePerReadyBytes = config.maxCommittedSizePerReadyBytes ??
    maxSizePerMsgBytes;
  requireBudget("maxCommittedSizePerReadyBytes", maxCommittedSizePerReadyBytes);
  const maxUncommittedEntriesSizeBytes = config.maxUncommittedEntriesSizeBytes ??
    Number.POSITIVE_INFINITY;
  requireBudget("maxUncommittedEntriesSizeBytes", maxUncommittedEntriesSizeBytes);
  const maxInflightMsgs = config.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT_MSGS;
  requireInteger("maxInflightMsgs", maxInflightMsgs, 1);
  const maxInflightBytes = config.maxInflightBytes ?? 0;
  requireInteger("maxInflightBytes", maxInflightBytes, 0);
  if (maxInflightBytes !== 0 && maxInflightBytes < maxSizePerMsgBytes) {
    throw new ConfigError(
      RAFT_CONFIG,
      "maxInflightBytes",
      `must be 0 (unlimited) or at least maxSizePerMsgBytes (${maxSizePerMsgBytes}), got ${maxInflightBytes}`,
    );
  }
  const readOnlyOption = config.readOnlyOption ?? "safe";
  if (readOnlyOption !== "safe" && readOnlyOption !== "leaseBased") {
    throw new ConfigError(
      RAFT_CONFIG,
      "readOnlyOption",
      `must be "safe" or "leaseBased", got ${readOnlyOption}`,
    );
  }
  const checkQuorum = config.checkQuorum ?? false;
  if (readOnlyOption === "leaseBased" && !checkQuorum) {
    // Without CheckQuorum a deposed leader keeps believing in its lease and serves stale reads.
    throw new ConfigError(
      RAFT_CONFIG,
      "readOnlyOption",
      `"leaseBased" requires checkQuorum to be true`,
    );
  }
  const checkQuorumTicks = config.checkQuorumTicks ?? config.electionTicks;
  requireInteger("checkQuorumTicks", checkQuorumTicks, 1);
  if (readOnlyOption === "leaseBased" && checkQuorumTicks > config.electionTicks) {
    throw new ConfigError(
      RAFT_CONFIG,
      "checkQuorumTicks",
      `must be at most electionTicks (${config.electionTicks}) with "leaseBased" reads, got ${checkQuorumTicks}`,
    );
  }
  return {
    id: config.id,
    electionTicks: config.electionTicks,
    heartbeatTicks: config.heartbeatTicks,
    storage: config.storage,
    rng: config.rng,
    applied,
    maxSizePerMsgBytes,
    maxCommittedSizePerReadyBytes,
    maxUncommittedEntriesSizeBytes,
    maxInflightMsgs,
    maxInflightBytes,
    checkQuorum,
    checkQuorumTicks,
    preVote: config.preVote ?? false,
    readOnlyOption,
    disableProposalForwarding: config.disableProposalForwarding ?? false,
    stepDownOnRemoval: config.stepDownOnRemoval ?? true,
    asyncLeaderAppend: config.asyncLeaderAppend ?? false,
    testingBugs: { ...config.testingBugs },
  };
}
