/**
 * @safla/server: the gateway. Configuration in the `mcpServers` shape,
 * the aggregating and balancing {@link Gateway}, its MCP front for both
 * protocol eras (Streamable HTTP, legacy HTTP+SSE, stdio) on Hono, the
 * management tools, and one running {@link GatewayInstance}.
 * `@safla/server/cluster` runs instances as the nodes of a Raft cluster.
 *
 * @module
 */
export * from "./config.ts";
export * from "./gateway/gateway.ts";
export * from "./gateway/jsonrpc_codes.ts";
export * from "./gateway/call_context.ts";
export * from "./gateway/wire_meta.ts";
export * from "./front/front.ts";
export * from "./front/app.ts";
export * from "./instance.ts";
export * from "./control/management.ts";
export * from "./control/service_directory.ts";
export * from "./control/session_directory.ts";
export * from "./front/stdio_front.ts";
export * from "./gateway/failover.ts";
