/**
 * The `management` section of a node's config file: who may use the
 * state-changing management tools, and what a runtime registration may run
 * or reach. Every node reads its own file, and enforces it on every service
 * record it applies, whoever wrote it.
 *
 * ```json
 * "management": {
 *   "anonymousAdmin": false,
 *   "registration": {
 *     "commands": [{ "command": "/usr/bin/npx", "args": ["-y", "@modelcontextprotocol/server-*"] }],
 *     "httpHosts": ["mcp.example.com", "*.tools.example.com"],
 *     "allowPrivateNetworks": false,
 *     "secrets": ["env:GITHUB_TOKEN", "file:/run/secrets/*"]
 *   }
 * }
 * ```
 *
 * - `anonymousAdmin`: a node without inbound auth lets its anonymous callers
 *   use the state-changing tools. Off by default.
 * - `registration.commands`: the stdio commands a runtime registration may
 *   run: an absolute path (compared after resolving symlinks) and, optionally,
 *   argument patterns (`*` matches within one argument; a last pattern `...`
 *   matches any remaining arguments). Without `args`, no arguments are allowed.
 * - `registration.httpHosts`: host names (or `host:port`, or `*.domain`, or
 *   `*` for any public host) a runtime HTTP registration may point at.
 * - `registration.allowPrivateNetworks`: also allow loopback and private
 *   addresses (10/8, 172.16/12, 192.168/16, fc00::/7, ...). Link-local and
 *   cloud metadata addresses are refused unless named exactly in `httpHosts`.
 * - `registration.secrets`: the secrets a registration may reference in
 *   `env` values and headers (`${env:NAME}`, `${file:PATH}`); literal values
 *   are always refused, so the replicated registry never holds a secret.
 *
 * @module
 */
import { ConfigError } from "@safla/core";

/** One allowed stdio command. */
export interface CommandRule {
  /** Absolute path of the executable. */
  command: string;
  /** Argument patterns; undefined means no arguments. */
  args?: readonly string[];
}

/** What runtime registrations may run or reach on this node. */
export interface RegistrationRules {
  commands: readonly CommandRule[];
  httpHosts: readonly string[];
  allowPrivateNetworks: boolean;
  /** Secret references (`env:NAME`, `file:PATH`, `*` globs) a registration may use. */
  secrets: readonly string[];
}

/** The parsed `management` section. */
export interface ManagementConfig {
  anonymousAdmin: boolean;
  registration: RegistrationRules;
}

/** The defaults: no anonymous admin, no runtime stdio command, no runtime HTTP host. */
export const DEFAULT_MANAGEMENT: Readonly<ManagementConfig> = Object.freeze({
  anonymousAdmin: false,
  registration: Object.freeze({
    commands: [],
    httpHosts: [],
    allowPrivateNetworks: false,
    secrets: [],
  }),
});

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function knownKeys(value: Json, at: string, keys: string[], fail: Fail): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) fail(`${at}.${key}`, `unknown setting; known: ${keys.join(", ")}`);
  }
}

type Fail = (key: string, problem: string) => never;

/**
 * Parses the `management` section (undefined gives the defaults).
 *
 * @example
 * ```ts
 * import { parseManagementConfig } from "./management_config.ts";
 * const m = parseManagementConfig({ anonymousAdmin: true }, "node.json");
 * console.assert(m.anonymousAdmin && m.registration.commands.length === 0);
 * ```
 */
export function parseManagementConfig(value: unknown, file = "<config>"): ManagementConfig {
  const fail: Fail = (key, problem) => {
    throw new ConfigError(file, key, problem);
  };
  if (value === undefined) return DEFAULT_MANAGEMENT;
  if (!isObject(value)) fail("management", "must be an object");
  const m = value as Json;
  knownKeys(m, "management", ["anonymousAdmin", "registration"], fail);
  if (m.anonymousAdmin !== undefined && typeof m.anonymousAdmin !== "boolean") {
    fail("management.anonymousAdmin", "must be true or false");
  }
  return {
    anonymousAdmin: m.anonymousAdmin === true,
    registration: parseRegistration(m.registration, fail),
  };
}

function parseRegistration(value: unknown, fail: Fail): RegistrationRules {
  const at = "management.registration";
  if (value === undefined) return DEFAULT_MANAGEMENT.registration;
  if (!isObject(value)) fail(at, "must be an object");
  const r = value as Json;
  knownKeys(r, at, ["commands", "httpHosts", "allowPrivateNetworks", "secrets"], fail);
  const commands = r.commands ?? [];
  if (!Array.isArray(commands)) fail(`${at}.commands`, "must be an array");
  const rules = (commands as unknown[]).map((c, i) =>
    parseCommandRule(c, `${at}.commands[${i}]`, fail)
  );
  const httpHosts = r.httpHosts ?? [];
  if (!Array.isArray(httpHosts) || !httpHosts.every((h) => typeof h === "string" && h !== "")) {
    fail(`${at}.httpHosts`, "must be an array of host names");
  }
  if (r.allowPrivateNetworks !== undefined && typeof r.allowPrivateNetworks !== "boolean") {
    fail(`${at}.allowPrivateNetworks`, "must be true or false");
  }
  const secrets = r.secrets ?? [];
  if (
    !Array.isArray(secrets) ||
    !secrets.every((s) => typeof s === "string" && /^(env|file):./.test(s))
  ) {
    fail(`${at}.secrets`, 'must be an array of "env:NAME" or "file:PATH" patterns');
  }
  return {
    commands: rules,
    httpHosts: (httpHosts as string[]).map((h) => h.toLowerCase()),
    allowPrivateNetworks: r.allowPrivateNetworks === true,
    secrets: secrets as string[],
  };
}

function parseCommandRule(value: unknown, at: string, fail: Fail): CommandRule {
  if (!isObject(value)) fail(at, 'must be an object like {"command": "/usr/bin/tool", "args": []}');
  const c = value as Json;
  knownKeys(c, at, ["command", "args"], fail);
  if (typeof c.command !== "string" || !c.command.startsWith("/")) {
    fail(`${at}.command`, "must be an absolute path");
  }
  if (
    c.args !== undefined && (!Array.isArray(c.args) || !c.args.every((a) => typeof a === "string"))
  ) {
    fail(`${at}.args`, "must be an array of argument patterns");
  }
  return { command: c.command as string, args: c.args as string[] | undefined };
}
