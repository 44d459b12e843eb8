/**
 * Cluster-wide quotas without Redis (DESIGN.md §8): token buckets whose
 * budget nodes take in slices through one replicated write each, and the
 * wallet a node admits calls from without any consensus on the call path.
 *
 * @module
 */
export * from "./bucket.ts";
export * from "./wallet.ts";
export * from "./rules.ts";
export * from "./grant_txn.ts";
