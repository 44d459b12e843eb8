/**
 * The service registry: logical MCP services with replica sets, their
 * catalogs and content hashes, replica health with hysteresis, RFC 6570 URI
 * templates for routing templated resources, and the names clients see.
 * Pure data in, data out.
 *
 * @module
 */
export * from "./content_hash.ts";
export * from "./catalog.ts";
export * from "./health.ts";
export * from "./uri_template.ts";
export * from "./naming.ts";
