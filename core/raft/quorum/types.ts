/**
 * Shared types of the quorum package.
 *
 * @module
 */

import type { NodeId } from "../types.ts";

/**
 * The outcome of an election (or of any yes/no poll) over a quorum:
 * `won` once a quorum said yes, `lost` once no quorum can say yes any more,
 * `pending` while the missing answers could still decide either way.
 */
export type VoteResult = "pending" | "lost" | "won";

/**
 * Looks up the highest log index a member is known to have durably stored,
 * or `undefined` when nothing is known about it (counted as index 0).
 */
export type AckedIndexer = (id: NodeId) => number | undefined;
