/**
 * The real driver of a cluster node: wall-clock ticks, the file WAL and
 * snapshots, and the TCP peer transport around the production node.
 *
 * @module
 */
export * from "./node_host.ts";
export * from "./member_directory.ts";
export * from "./timing.ts";
export * from "./host_options.ts";
