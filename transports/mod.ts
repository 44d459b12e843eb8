/**
 * @safla/transports: the real-I/O drivers. MCP backend connectors (stdio,
 * Streamable HTTP, legacy HTTP+SSE), each supervised and era-aware.
 *
 * @module
 */
export * from "./mcp/backend.ts";
export * from "./mcp/era_cache.ts";
export * from "./mcp/credentials.ts";
export * from "./mcp/client_credentials.ts";
export * from "./mcp/stdio_transport.ts";
