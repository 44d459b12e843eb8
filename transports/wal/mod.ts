/**
 * Durable storage of one node: the segmented write-ahead log and the snapshot files.
 *
 * @module
 */
export * from "./file_wal.ts";
export * from "./snapshot_files.ts";
