/**
 * @safla/server: the gateway node. Configuration in the `mcpServers` shape,
 * the aggregating and balancing {@link Gateway}, its MCP front for both
 * protocol eras (Streamable HTTP, legacy HTTP+SSE, stdio) on Hono, and the
 * management tools.
 *
 * @module
 */
export * from "./config.ts";
export * from "./gateway.ts";
export * from "./call_context.ts";
export * from "./wire_meta.ts";
export * from "./front.ts";
export * from "./app.ts";
export * from "./node.ts";
export * from "./management.ts";
export * from "./service_directory.ts";
export * from "./session_directory.ts";
export * from "./stdio_front.ts";
export * from "./failover.ts";
