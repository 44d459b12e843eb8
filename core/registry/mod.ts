/**
 * The service registry: logical MCP services with replica sets, their
 * catalogs and content hashes, replica health with hysteresis, RFC 6570 URI
 * templates for routing templated resources, and the names clients see.
 * Pure data in, data out.
 *
 * @example
 * ```ts
 * import { Registry } from "./mod.ts";
 * const registry = new Registry();
 * registry.register("fs", {
 *   id: "r1", name: "fs", version: "1.0.0",
 *   transport: { kind: "stdio", command: "fs-server", args: [], env: {} },
 *   capabilities: { resources: {} }, metadata: {},
 * }, "lease-1");
 * registry.setCatalog("fs", "r1", {
 *   tools: [], resources: [], prompts: [],
 *   resourceTemplates: [{ uriTemplate: "file:///{+path}", name: "file" }],
 * });
 * console.assert(registry.resolveResource("file:///etc/hosts")[0].serviceId === "fs");
 * ```
 *
 * @module
 */
export * from "./content_hash.ts";
export * from "./catalog.ts";
export * from "./health.ts";
export * from "./health_table.ts";
export * from "./uri_template.ts";
export * from "./service.ts";
export * from "./registry.ts";
export * from "./naming.ts";
