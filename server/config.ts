/**
 * Gateway configuration: the `mcpServers` JSON shape desktop MCP clients
 * already use (`command`/`args`/`env` for stdio, `url`/`headers` for HTTP),
 * plus our fields: replicas of a service, balancing strategy, timeouts,
 * separator and naming mode. Every error names the file, the key and the
 * problem, so a user can fix the file without reading our code.
 *
 * @module
 */
import type { BackendSpec } from "@safla/transports";
import { isStrategyName, STRATEGY_NAMES, type StrategyName } from "@safla/core/balancer";
import { MIN_MAX_NAME_LENGTH, type NamingMode } from "@safla/core/registry";
import { ConfigError } from "@safla/core";
import { parseQuotaSetting, type QuotaRule } from "./quota/quota_config.ts";
import type { Policy } from "@safla/core/access";
import { parseConfigPolicies } from "./access/policy_config.ts";
import { type AuthConfig, parseAuthConfig } from "./auth/auth_config.ts";
import { type ManagementConfig, parseManagementConfig } from "./control/management_config.ts";
import {
  BACKEND_SERVICE_KEYS,
  type BackendServiceOptions,
  parseBackendKeys,
} from "./gateway/backend_config.ts";

/** What {@link loadConfig} and {@link parseConfig} throw; `source` is the file. */
export { ConfigError };

/** One logical service: a name and its interchangeable replicas. */
export interface ServiceConfig extends BackendServiceOptions {
  name: string;
  replicas: BackendSpec[];
  strategy: StrategyName;
  requestTimeoutMs: number;
}

/** Gateway-wide settings. */
export interface GatewaySettings {
  separator: string;
  naming: NamingMode;
  maxToolNameLength: number;
  strategy: StrategyName;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Connect budget of a backend until it was first ready (a cold `npx` install). */
  startTimeoutMs: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  maxRequestBodyBytes: number;
  /** Extra Host header names accepted besides loopback names. */
  allowedHosts: string[];
  /** Extra Origin host names accepted besides loopback names. */
  allowedOrigins: string[];
  /** Most failover attempts per call, counting the first. */
  maxAttempts: number;
  /**
   * Most items in one page of tools/list, prompts/list, resources/list and
   * resources/templates/list; longer lists are paged with `nextCursor`.
   */
  listPageSize: number;
  /**
   * Start a second attempt of a read-only or idempotent call on another
   * replica when the first has not answered after this long; off when absent.
   */
  hedgeDelayMs?: number;
  /** A replica's circuit breaker opens after this many failed calls in a row. */
  breakerConsecutiveFailures: number;
  /** How long an open breaker keeps calls away from its replica before one probe call. */
  breakerOpenDurationMs: number;
  /** Most concurrent 2025 sessions (Streamable HTTP and SSE together) per node. */
  maxSessions: number;
  /** Most concurrent 2025 sessions of one principal per node (server/front/session_limits.ts). */
  maxSessionsPerPrincipal: number;
  /** Notification backlog of one client stream, in messages and bytes, and of the whole node. */
  maxStreamBacklogMessages: number;
  maxStreamBacklogBytes: number;
  maxNodeBacklogBytes: number;
  /** Most tool calls of one principal in flight on a node. */
  maxConcurrentCallsPerPrincipal: number;
  /** Cluster-wide quotas (core/quota/rules.ts). */
  quotas: QuotaRule[];
}

/** A validated configuration. */
export interface GatewayConfig {
  services: ServiceConfig[];
  settings: GatewaySettings;
  /** Access policies from the file's `policies` (server/access); the store adds more at runtime. */
  policies?: Policy[];
  /** Who may call the HTTP fronts (auth/auth_config.ts); absent: no authentication. */
  auth?: AuthConfig;
  /** Who may manage the gateway and what runtime registrations may run (`control/management_config.ts`). */
  management?: ManagementConfig;
}

/** The sections a config file may have; only `mcpServers` is required. */
const TOP_LEVEL_KEYS = ["mcpServers", "gateway", "auth", "management", "policies"];

/** The defaults of every gateway setting. */
export const DEFAULT_SETTINGS: Readonly<GatewaySettings> = Object.freeze({
  separator: "__",
  naming: "prefixed",
  maxToolNameLength: 64,
  strategy: "p2c-peak-ewma",
  requestTimeoutMs: 60_000,
  connectTimeoutMs: 15_000,
  // A cold `npx` install of server-everything measured 16 s here, 83 s when
  // it first waited out the lock an interrupted install left behind.
  startTimeoutMs: 300_000,
  initialBackoffMs: 200,
  maxBackoffMs: 10_000,
  maxRequestBodyBytes: 4 * 1024 * 1024,
  allowedHosts: [],
  allowedOrigins: [],
  maxAttempts: 3,
  breakerConsecutiveFailures: 3,
  breakerOpenDurationMs: 5_000,
  maxSessions: 10_000,
  maxSessionsPerPrincipal: 1_000,
  maxStreamBacklogMessages: 256,
  maxStreamBacklogBytes: 256 * 1024,
  maxNodeBacklogBytes: 64 * 1024 * 1024,
  maxConcurrentCallsPerPrincipal: 256,
  quotas: [],
  // MCP servers commonly page at 100-1000; a gateway with fewer tools than
  // this answers in one page, as before, even to clients that do not page.
  listPageSize: 1_000,
});

/** Most replicas one service may declare. */
export const MAX_REPLICAS = 64;
const SERVICE_NAME = /^[A-Za-z0-9_.-]{1,48}$/;

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads and validates a configuration file. */
export async function loadConfig(file: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new ConfigError(file, "(file)", `cannot read: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, "(file)", `not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(json, file);
}

/** Validates an already parsed configuration; `file` is used in error messages. */
export function parseConfig(json: unknown, file = "<config>"): GatewayConfig {
  const fail = (key: string, problem: string): never => {
    throw new ConfigError(file, key, problem);
  };
  if (!isObject(json)) fail("(root)", "must be a JSON object");
  const root = json as Json;
  for (const key of Object.keys(root)) {
    if (!TOP_LEVEL_KEYS.includes(key)) {
      fail(key, `unknown top-level key (expected one of ${TOP_LEVEL_KEYS.join(", ")})`);
    }
  }
  const settings = parseSettings(root.gateway, fail);
  if (!isObject(root.mcpServers)) fail("mcpServers", "must be an object of named servers");
  const services: ServiceConfig[] = [];
  for (const [name, value] of Object.entries(root.mcpServers as Json)) {
    const key = `mcpServers.${name}`;
    if (!SERVICE_NAME.test(name)) {
      fail(key, "a service name must be 1-48 characters of letters, digits, '_', '.' or '-'");
    }
    if (name === "safla") fail(key, `"safla" is reserved for the gateway's own tools`);
    if (!isObject(value)) fail(key, "must be an object");
    if ((value as Json).disabled === true) continue;
    services.push(parseService(name, value as Json, key, settings, fail));
  }
  const auth = parseAuthConfig(root.auth, fail);
  const management = parseManagementConfig(root.management, file);
  const policies = root.policies === undefined
    ? undefined
    : parseConfigPolicies(root.policies, fail);
  return {
    services,
    settings,
    management,
    ...(auth === undefined ? {} : { auth }),
    ...(policies === undefined ? {} : { policies }),
  };
}

type Fail = (key: string, problem: string) => never;

function parseSettings(value: unknown, fail: Fail): GatewaySettings {
  const out: GatewaySettings = { ...DEFAULT_SETTINGS, allowedHosts: [], allowedOrigins: [] };
  if (value === undefined) return out;
  if (!isObject(value)) fail("gateway", "must be an object");
  const g = value as Json;
  const known = new Set([...Object.keys(DEFAULT_SETTINGS), "hedgeDelayMs"]);
  for (const [key, v] of Object.entries(g)) {
    const at = `gateway.${key}`;
    if (!known.has(key)) fail(at, `unknown setting; known: ${[...known].join(", ")}`);
    switch (key) {
      case "separator":
        if (typeof v !== "string" || v.length === 0 || v.length > 8) {
          fail(at, "must be a string of 1-8 characters");
        }
        out.separator = v as string;
        break;
      case "naming":
        if (v !== "prefixed" && v !== "passthrough") {
          fail(at, `must be "prefixed" or "passthrough"`);
        }
        out.naming = v as NamingMode;
        break;
      case "strategy":
        if (typeof v !== "string" || !isStrategyName(v)) {
          fail(at, `must be one of ${STRATEGY_NAMES.join(", ")}`);
        }
        out.strategy = v as StrategyName;
        break;
      case "allowedHosts":
      case "allowedOrigins":
        if (!Array.isArray(v) || !v.every((h) => typeof h === "string")) {
          fail(at, "must be an array of host names");
        }
        out[key] = v as string[];
        break;
      case "maxToolNameLength":
        out.maxToolNameLength = positiveInt(v, at, fail, MIN_MAX_NAME_LENGTH, 1024);
        break;
      case "maxAttempts":
        out.maxAttempts = positiveInt(v, at, fail, 1, 10);
        break;
      case "listPageSize":
        out.listPageSize = positiveInt(v, at, fail, 1, 10_000);
        break;
      case "hedgeDelayMs":
        out.hedgeDelayMs = positiveInt(v, at, fail, 1, 600_000);
        break;
      case "breakerConsecutiveFailures":
        out.breakerConsecutiveFailures = positiveInt(v, at, fail, 1, 1_000);
        break;
      case "breakerOpenDurationMs":
        out.breakerOpenDurationMs = positiveInt(v, at, fail, 1, 3_600_000);
        break;
      case "quotas":
        out.quotas = parseQuotaSetting(v, at, fail);
        break;
      case "maxSessions":
        out.maxSessions = positiveInt(v, at, fail, 1, 1_000_000);
        break;
      default:
        (out as unknown as Record<string, number>)[key] = positiveInt(v, at, fail, 1, 2 ** 31);
    }
  }
  if (out.initialBackoffMs > out.maxBackoffMs) {
    fail("gateway.initialBackoffMs", "must not exceed gateway.maxBackoffMs");
  }
  return out;
}

function positiveInt(v: unknown, at: string, fail: Fail, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    fail(at, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v as number;
}

const SERVICE_KEYS = new Set([
  "command",
  "args",
  "env",
  "cwd",
  "url",
  "headers",
  "type",
  "transport",
  "replicas",
  "strategy",
  "timeoutMs",
  "disabled",
  "description",
  ...BACKEND_SERVICE_KEYS,
]);

function parseService(
  name: string,
  s: Json,
  key: string,
  settings: GatewaySettings,
  fail: Fail,
): ServiceConfig {
  for (const k of Object.keys(s)) {
    if (!SERVICE_KEYS.has(k)) fail(`${key}.${k}`, "unknown key");
  }
  let strategy = settings.strategy;
  if (s.strategy !== undefined) {
    if (typeof s.strategy !== "string" || !isStrategyName(s.strategy)) {
      fail(`${key}.strategy`, `must be one of ${STRATEGY_NAMES.join(", ")}`);
    }
    strategy = s.strategy as StrategyName;
  }
  const requestTimeoutMs = s.timeoutMs === undefined
    ? settings.requestTimeoutMs
    : positiveInt(s.timeoutMs, `${key}.timeoutMs`, fail, 1, 2 ** 31);

  let replicas: BackendSpec[];
  if (Array.isArray(s.replicas)) {
    if (s.command !== undefined || s.url !== undefined) {
      fail(
        `${key}.replicas`,
        "an explicit replica list replaces command/url; give one or the other",
      );
    }
    if (s.replicas.length === 0 || s.replicas.length > MAX_REPLICAS) {
      fail(`${key}.replicas`, `must list 1-${MAX_REPLICAS} replicas`);
    }
    replicas = s.replicas.map((r, i) => {
      if (!isObject(r)) fail(`${key}.replicas[${i}]`, "must be an object");
      return parseSpec(r as Json, `${key}.replicas[${i}]`, fail);
    });
  } else {
    const spec = parseSpec(s, key, fail);
    const count = s.replicas === undefined
      ? 1
      : positiveInt(s.replicas, `${key}.replicas`, fail, 1, MAX_REPLICAS);
    replicas = Array.from({ length: count }, () => spec);
  }
  return { name, replicas, strategy, requestTimeoutMs, ...parseBackendKeys(s, key, fail) };
}

function parseSpec(s: Json, key: string, fail: Fail): BackendSpec {
  const hasCommand = s.command !== undefined;
  const hasUrl = s.url !== undefined;
  if (hasCommand === hasUrl) fail(key, `needs exactly one of "command" (stdio) or "url" (HTTP)`);
  if (hasCommand) {
    if (typeof s.command !== "string" || s.command.length === 0) {
      fail(`${key}.command`, "must be a non-empty string");
    }
    const args = s.args ?? [];
    if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
      fail(`${key}.args`, "must be an array of strings");
    }
    const env = s.env;
    if (
      env !== undefined &&
      !(isObject(env) && Object.values(env).every((v) => typeof v === "string"))
    ) {
      fail(`${key}.env`, "must be an object of string values");
    }
    if (s.cwd !== undefined && typeof s.cwd !== "string") fail(`${key}.cwd`, "must be a string");
    return {
      kind: "stdio",
      command: s.command as string,
      args: args as string[],
      env: env as Record<string, string> | undefined,
      cwd: s.cwd as string | undefined,
    };
  }
  if (typeof s.url !== "string") fail(`${key}.url`, "must be a string");
  let url: URL;
  try {
    url = new URL(s.url as string);
  } catch {
    return fail(`${key}.url`, `not a valid URL: ${JSON.stringify(s.url)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    fail(`${key}.url`, "must be an http: or https: URL");
  }
  const headers = s.headers;
  if (
    headers !== undefined &&
    !(isObject(headers) && Object.values(headers).every((v) => typeof v === "string"))
  ) {
    fail(`${key}.headers`, "must be an object of string values");
  }
  const type = s.type ?? s.transport ?? (url.pathname.endsWith("/sse") ? "sse" : "streamable-http");
  if (
    type !== "sse" && type !== "streamable-http" && type !== "http" && type !== "streamableHttp"
  ) {
    fail(`${key}.type`, `must be "streamable-http" (alias "http") or "sse"`);
  }
  return {
    kind: type === "sse" ? "sse" : "streamable-http",
    url: url.href,
    headers: headers as Record<string, string> | undefined,
  };
}
