/**
 * The replicated cluster of gateway nodes: the {@link RaftStore} (the
 * embedded engine of the state store), the admin REST API, one node as a
 * process, and the local cluster launcher behind `deno task serve`.
 *
 * @module
 */
export * from "../store/raft/errors.ts";
export * from "../store/raft/raft_store.ts";
export * from "./admin/admin_api.ts";
export * from "./admin/kv_session.ts";
export * from "./admin/kv_session_client.ts";
export * from "./cluster_node.ts";
export * from "./cluster_args.ts";
export * from "./local_cluster.ts";
export { claimDataDir, runLauncher } from "./launcher.ts";
export { demoGatewayConfig, runNode } from "./node_main.ts";
