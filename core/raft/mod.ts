/**
 * Raft consensus as a pure state machine in the shape of etcd's RawNode.
 *
 * @module
 */
export type * from "./types.ts";
