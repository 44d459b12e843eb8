/**
 * The mutation list of `deno task mutate`: single-point changes to the core
 * that a correct test suite and simulator must notice. Each names its file,
 * the exact text it replaces (which must occur once), the tests of the
 * touched module, and the campaign that should catch it: the default swarm
 * (`scenario` absent) or a named scenario of `deno task sim`.
 *
 * The first four are the ones the issue found the campaign missing (1000
 * seeds each before); `fast` marks the subset CI runs.
 *
 * @module
 */

/** One single-point mutation. */
export interface Mutation {
  /** Short unique name. */
  id: string;
  /** File it changes, from the repository root. */
  file: string;
  /** Exact text replaced (occurs exactly once in `file`). */
  from: string;
  /** Replacement. */
  to: string;
  /** What the change breaks, in the domain's words. */
  breaks: string;
  /** Test files of the touched module, from the repository root. */
  tests: string[];
  /** Scenario of `deno task sim` the simulator runs (default: the swarm campaign). */
  scenario?: string;
  /** In the CI subset (`deno task mutate --fast`). */
  fast?: boolean;
}

const RAFT_TESTS = [
  "core/raft/raft_test.ts",
  "core/raft/raft_paper_test.ts",
  "core/raft/log_test.ts",
  "core/raft/network_test.ts",
];
const NODE_TESTS = ["core/node/node_test.ts", "core/node/durability_test.ts"];
const STATE_TESTS = [
  "core/state/kv_test.ts",
  "core/state/watch_test.ts",
  "core/state/scenario_test.ts",
];
const WAL_TESTS = ["core/wal/replay_test.ts", "core/wal/record_test.ts"];
const ROUTING_TESTS = ["core/routing/call_router_test.ts", "core/routing/call_executor_test.ts"];

/** The list. */
export const MUTATIONS: readonly Mutation[] = [
  {
    id: "quorum-ceil-half",
    file: "core/raft/quorum/majority.ts",
    from: "return Math.floor(voterCount / 2) + 1;",
    to: "return Math.ceil(voterCount / 2);",
    breaks: "a quorum computed as ceil(n/2): two halves of an even cluster both commit",
    tests: ["core/raft/quorum/majority_test.ts", ...RAFT_TESTS],
    fast: true,
  },
  {
    id: "joint-commit-incoming-only",
    file: "core/raft/quorum/joint.ts",
    from: "      this.outgoing.committedIndex(ackedIndex),",
    to: "      this.incoming.committedIndex(ackedIndex),",
    breaks: "a joint configuration commits on a quorum of the incoming voters alone",
    scenario: "jointConsensus",
    fast: true,
    tests: ["core/raft/quorum/joint_test.ts", ...RAFT_TESTS],
  },
  {
    id: "follower-commit-past-sent",
    file: "core/raft/log.ts",
    from: "this.commitTo(Math.min(committed, lastNewIndex));",
    to: "this.commitTo(Math.min(committed, this.lastIndex()));",
    breaks: "a follower commits past the last entry the leader sent (a stale tail)",
    tests: RAFT_TESTS,
  },
  {
    id: "watch-batch-skips-revision",
    file: "core/state/watch.ts",
    from: "      nextRevision = event.revision;",
    to: "      nextRevision = event.revision + 1;",
    breaks: "a watch batch cut at a revision boundary resumes one revision too far",
    tests: ["core/state/watch_test.ts"],
    fast: true,
  },
  {
    id: "up-to-date-ignores-length",
    file: "core/raft/log.ts",
    from: "return term > lastTerm || (term === lastTerm && lastIndex >= this.lastIndex());",
    to: "return term >= lastTerm;",
    breaks: "a voter grants its vote to a candidate whose log is shorter in the same last term",
    tests: RAFT_TESTS,
  },
  {
    id: "commit-previous-term-by-counting",
    file: "core/raft/log.ts",
    from: "if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {",
    to: "if (maxIndex > this.committed && this.termOrZero(maxIndex) <= term) {",
    breaks: "a leader commits an entry of an earlier term by counting replicas (Figure 8)",
    tests: RAFT_TESTS,
    scenario: "commitPreviousTermByCounting",
  },
  {
    id: "vote-kept-on-term-change",
    file: "core/raft/raft.ts",
    from: "      this.term = term;\n      this.vote = null;",
    to: "      this.term = term;",
    breaks: "a vote is not cleared when the term changes (nobody can win the next election)",
    tests: RAFT_TESTS,
  },
  {
    id: "snapshot-older-than-commit",
    file: "core/raft/raft.ts",
    from: "    if (index <= this.raftLog.committed) return false;\n    invariant(",
    to: "    if (index < 0) return false;\n    invariant(",
    breaks: "a follower installs a snapshot older than its commit index",
    tests: RAFT_TESTS,
  },
  {
    id: "vote-twice-in-term",
    file: "core/raft/raft.ts",
    from: "(this.vote === null && this.lead === null) ||",
    to: "(this.lead === null) ||",
    breaks: "a node votes for a second candidate in the same term",
    tests: RAFT_TESTS,
    fast: true,
  },
  {
    id: "read-before-term-commit",
    file: "core/raft/raft.ts",
    from: "if (!this.#committedEntryInCurrentTerm()) {",
    to: "if (this.term < 0) {",
    breaks: "a new leader serves ReadIndex before an entry of its term commits",
    tests: RAFT_TESTS,
  },
  {
    id: "election-quorum-minus-one",
    file: "core/raft/quorum/majority.ts",
    from: 'if (granted >= quorum) return "won";',
    to: 'if (granted >= quorum - 1) return "won";',
    breaks: "an election is won one vote short of a quorum",
    tests: ["core/raft/quorum/majority_test.ts", ...RAFT_TESTS],
  },
  {
    id: "joint-vote-incoming-only",
    file: "core/raft/quorum/joint.ts",
    from: "    if (incoming === outgoing) return incoming;",
    to: "    return incoming;",
    breaks: "a joint configuration elects on the incoming voters alone",
    scenario: "jointConsensus",
    tests: ["core/raft/quorum/joint_test.ts", ...RAFT_TESTS],
  },
  {
    id: "progress-match-one-ahead",
    file: "core/raft/tracker/progress.ts",
    from: "    this.#match = n;",
    to: "    this.#match = n + 1;",
    breaks: "the leader believes a follower holds one entry more than it acknowledged",
    tests: ["core/raft/tracker/progress_test.ts", ...RAFT_TESTS],
  },
  {
    id: "heartbeat-commit-unbounded",
    file: "core/raft/raft.ts",
    from: "const commit = Math.min(pr?.match ?? 0, this.raftLog.committed);",
    to: "const commit = this.raftLog.committed;",
    breaks: "a heartbeat tells a follower to commit past what it is known to hold",
    tests: RAFT_TESTS,
  },
  {
    id: "check-quorum-never-steps-down",
    file: "core/raft/raft.ts",
    from: "        if (!this.trk.quorumActive()) {",
    to: "        if (this.term < 0) {",
    breaks: "a leader cut off from its quorum keeps leading (and serving lease reads)",
    tests: RAFT_TESTS,
    scenario: "leaseReadDeposedLeader",
  },
  {
    id: "conf-change-not-one-at-a-time",
    file: "core/raft/raft.ts",
    from: "const refused = this.pendingConfIndex > this.raftLog.applied ||",
    to: "const refused = this.pendingConfIndex < 0 ||",
    breaks: "a second membership change is accepted while one is still unapplied",
    tests: RAFT_TESTS,
    scenario: "jointConsensus",
  },
  {
    id: "lease-ignored-for-votes",
    file: "core/raft/raft.ts",
    from: "this.electionElapsedTicks < this.config.electionTicks;",
    to: "this.electionElapsedTicks < 0;",
    breaks: "followers of a live leader grant votes within its lease (lease reads go stale)",
    tests: RAFT_TESTS,
    scenario: "leaseReadDeposedLeader",
  },
  {
    id: "node-applies-twice",
    file: "core/node/node.ts",
    from: "if (entry.index <= this.#applied) continue;",
    to: "if (entry.index < this.#applied) continue;",
    breaks: "the node applies the last applied entry again",
    tests: NODE_TESTS,
  },
  {
    id: "read-served-before-applied",
    file: "core/node/node.ts",
    from: "if (read.index < 0 || read.index > this.#applied) continue;",
    to: "if (read.index < 0) continue;",
    breaks: "a ReadIndex read is answered before the state machine reaches its index",
    tests: NODE_TESTS,
  },
  {
    id: "apply-one-past-durable",
    file: "core/node/node.ts",
    from: "committed[count].index <= lastDurable &&",
    to: "committed[count].index <= lastDurable + 1 &&",
    breaks: "an entry is applied one past what is durable in the local log",
    tests: NODE_TESTS,
  },
  {
    id: "snapshot-index-one-short",
    file: "core/node/node.ts",
    from: "    const index = this.#applied;",
    to: "    const index = this.#applied - 1;",
    breaks: "a snapshot is labelled one index short of the state it holds",
    tests: NODE_TESTS,
  },
  {
    id: "conf-state-not-recorded",
    file: "core/node/node.ts",
    from: "this.#confState = this.#raft.applyConfChange(cc);",
    to: "this.#raft.applyConfChange(cc);",
    breaks: "the node's configuration (and so its snapshots') misses applied changes",
    tests: NODE_TESTS,
  },
  {
    id: "put-keeps-version",
    file: "core/state/kv.ts",
    from: "version: prev === null ? 1 : prev.version + 1,",
    to: "version: prev === null ? 1 : prev.version,",
    breaks: "overwriting a key does not bump its version (compare-and-swap on version breaks)",
    tests: STATE_TESTS,
  },
  {
    id: "txn-equal-is-at-most",
    file: "core/state/kv.ts",
    from: "        return order === 0;",
    to: "        return order <= 0;",
    breaks: "a transaction's equal comparison also holds for smaller values",
    tests: STATE_TESTS,
  },
  {
    id: "delete-reuses-revision",
    file: "core/state/kv.ts",
    from: "    const revision = this.#revision + 1;\n    this.#kvs.delete(key);",
    to: "    const revision = this.#revision;\n    this.#kvs.delete(key);",
    breaks: "a delete's event carries the previous revision",
    tests: STATE_TESTS,
  },
  {
    id: "watch-batch-start-skips",
    file: "core/state/watch.ts",
    from: "let nextRevision = Math.max(startRevision, source.revision + 1);",
    to: "let nextRevision = Math.max(startRevision, source.revision + 2);",
    breaks: "a watcher that read everything resumes one revision past the newest",
    tests: ["core/state/watch_test.ts"],
  },
  {
    id: "wal-overwrite-keeps-old",
    file: "core/wal/replay.ts",
    from: "state.entries.length = entry.index - first;",
    to: "state.entries.length = Math.max(0, entry.index - first - 1);",
    breaks: "WAL replay of an overwritten suffix drops the entry before the overwrite",
    tests: WAL_TESTS,
  },
  {
    id: "wal-marker-keeps-covered",
    file: "core/wal/replay.ts",
    from: "state.entries = state.entries.filter((e) => e.index > record.index);",
    to: "state.entries = state.entries.filter((e) => e.index > record.index + 1);",
    breaks: "WAL replay drops the first entry after a snapshot marker",
    tests: WAL_TESTS,
  },
  {
    id: "wal-checksum-ignored",
    file: "core/wal/record.ts",
    from:
      "if (crc32cRange(bytes, offset + 8, end, crc32cRange(bytes, offset, offset + 4)) !== expected) {",
    to: "if (expected < 0) {",
    breaks: "a record whose checksum does not match is read as valid (bit rot goes unseen)",
    tests: WAL_TESTS,
  },
  {
    id: "unannotated-tool-repeatable",
    file: "core/resilience/tool_safety.ts",
    from: "return hints?.readOnlyHint === true || hints?.idempotentHint === true;",
    to: "return hints?.readOnlyHint === true || hints?.idempotentHint !== false;",
    breaks: "a tool without hints is treated as safe to run twice",
    tests: ["core/resilience/retry_test.ts", ...ROUTING_TESTS],
    scenario: "replica-crash",
  },
  {
    id: "retry-after-unknown-outcome",
    file: "core/resilience/retry.ts",
    from: 'if (outcome !== "not-sent" && !safe) return giveUp("not-safe-to-repeat");',
    to: 'if (outcome === "failed" && !safe) return giveUp("not-safe-to-repeat");',
    breaks: "an unsafe call whose attempt may have run is retried on another replica",
    tests: ["core/resilience/retry_test.ts", ...ROUTING_TESTS],
    scenario: "replica-crash",
  },
  {
    id: "hedge-unsafe-call",
    file: "core/routing/call_router.ts",
    from: "if (!mayRunTwice(record.request.annotations)) return undefined;",
    to: "if (record.attempts < 0) return undefined;",
    breaks: "a call that must not run twice is hedged to a second replica",
    tests: ROUTING_TESTS,
    scenario: "replica-crash-hedged",
  },
];
