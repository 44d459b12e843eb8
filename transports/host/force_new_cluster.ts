/**
 * Quorum recovery, as etcd's `--force-new-cluster`: a surviving node restarts
 * from its own data as the only voter of its cluster. Its log is cut back to
 * what it knows committed (entries past that were never known to be agreed),
 * then it appends, as its own committed entries, one single-member change per
 * step: make itself a voter, then remove every other member it knows. One
 * change at a time needs no joint configuration, so the outgoing majority
 * (gone) never has to agree. The other members then rejoin empty, as new
 * learners, and catch up from it.
 *
 * What the node had not learned was committed is lost, as with etcd: recover
 * from the survivor with the longest committed log.
 *
 * @module
 */
import {
  encodeConfChange,
  type Entry,
  type HardState,
  type NodeId,
  type WalState,
} from "@safla/core";

/** What to write to the WAL so that `self` alone forms the cluster. */
export interface ForcedLog {
  /** The log after the cut, ending with the membership changes. */
  entries: Entry[];
  /** The hard state that commits them. */
  hardState: HardState;
  /** Just the appended membership changes (what the WAL gets). */
  appended: Entry[];
}

/**
 * The log that makes `self` the only voter: `state`'s entries up to its
 * commit index, then `addNode self` and a `removeNode` for each of `others`,
 * all committed. Pure; the caller persists `appended` and `hardState`.
 */
export function forceNewClusterLog(
  state: Pick<WalState, "entries" | "hardState" | "snapshot">,
  self: NodeId,
  others: readonly NodeId[],
): ForcedLog {
  const commit = Math.max(state.hardState.commit, state.snapshot.index);
  const kept = state.entries.filter((e) => e.index <= commit);
  const lastTerm = kept.length > 0 ? kept[kept.length - 1].term : state.snapshot.term;
  const term = Math.max(state.hardState.term, lastTerm, 1);
  const changes = [
    { type: "addNode" as const, nodeId: self },
    ...others.filter((id) => id !== self).map((id) => ({
      type: "removeNode" as const,
      nodeId: id,
    })),
  ];
  const appended: Entry[] = changes.map((change, i) => ({
    term,
    index: commit + 1 + i,
    type: "confChange",
    data: encodeConfChange({ transition: "auto", changes: [change] }),
  }));
  const entries = [...kept, ...appended];
  return {
    entries,
    appended,
    hardState: { ...state.hardState, term, commit: entries[entries.length - 1].index },
  };
}
