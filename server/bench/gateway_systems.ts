/**
 * The systems under test, all in front of the same `server-everything`
 * process command over stdio: our gateway (`server/main.ts serve` as a
 * subprocess), supergateway (stateful, Streamable HTTP out), mcp-proxy
 * (Streamable HTTP), and a direct stdio session as the baseline. Versions are
 * pinned so that figures from different runs compare.
 *
 * @module
 */
import {
  type ClientKind,
  connectClient,
  type Endpoint,
  hasTool,
  type LoadClient,
} from "./gateway_load.ts";
import { freeLoopbackPort, type GroupProcess, spawnGroup } from "./gateway_process.ts";
import { startTestIssuer, type TestIssuer } from "../auth/testing/test_issuer.ts";

/** The backend every system fronts. */
export const EVERYTHING_PACKAGE = "@modelcontextprotocol/server-everything@2026.8.31";
/** The peer gateways, pinned. */
export const SUPERGATEWAY_PACKAGE = "supergateway@4.0.0";
export const MCP_PROXY_PACKAGE = "mcp-proxy@6.7.19";

/** Systems the benchmark knows, in the order it runs them. */
export const SYSTEM_IDS = [
  "direct",
  "direct-http",
  "safla",
  "safla-jwt",
  "supergateway",
  "mcp-proxy",
] as const;
/** One system under test. */
export type SystemId = typeof SYSTEM_IDS[number];

/** What each system is, for the table. */
export const SYSTEM_LABELS: Readonly<Record<SystemId, string>> = {
  direct: "direct stdio (baseline)",
  "direct-http": "server-everything's own Streamable HTTP (no gateway)",
  safla: "safla gateway",
  "safla-jwt": "safla gateway, JWT auth on",
  supergateway: `${SUPERGATEWAY_PACKAGE} --stateful`,
  "mcp-proxy": `${MCP_PROXY_PACKAGE} --server stream`,
};

/** The command that runs server-everything over stdio. */
export interface BackendCommand {
  command: string;
  args: string[];
}

const SERVICE = "every";
const MAIN_TS = new URL("../main.ts", import.meta.url).pathname;
const ROOT_DIR = new URL("../../", import.meta.url).pathname;
const RESOLVE_TIMEOUT_MS = 180_000;

/**
 * Resolves server-everything to `node <entry> stdio`, so every system spawns
 * the backend the same way and no npx wrapper sits between a gateway and its
 * backend. Falls back to Deno's npm cache when npx cannot resolve it
 * (offline with an empty npx cache).
 */
export async function resolveBackend(): Promise<BackendCommand> {
  const npx = new Deno.Command("npx", {
    args: [
      "-y",
      "-p",
      EVERYTHING_PACKAGE,
      "-c",
      `readlink -f "$(command -v mcp-server-everything)"`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(RESOLVE_TIMEOUT_MS),
  });
  try {
    const { success, stdout } = await npx.output();
    const entry = new TextDecoder().decode(stdout).trim();
    if (success && entry.startsWith("/") && !/\s/.test(entry)) {
      return { command: "node", args: [entry, "stdio"] };
    }
  } catch {
    // npx missing or timed out: use Deno below.
  }
  return { command: Deno.execPath(), args: ["run", "-A", `npm:${EVERYTHING_PACKAGE}`, "stdio"] };
}

/** A system that is up: how to reach it, the echo tool's name, how to end it. */
export interface RunningSystem {
  endpoint: Endpoint;
  toolName: string;
  /** The gateway process, absent for the direct baseline. */
  process?: GroupProcess;
  /** Arguments of the backend process, which tell it from a gateway's processes. */
  backendArgs: string[];
  close(): Promise<void>;
}

/** A system could not start or serve; `reason` is what the table shows. */
export class SystemUnavailableError extends Error {
  constructor(readonly system: SystemId, readonly reason: string) {
    super(`${system} unavailable: ${reason}`);
    this.name = "SystemUnavailableError";
  }
}

/**
 * Starts `system` in front of `backend` on a free loopback port. With
 * `profileDir`, our gateway writes a V8 CPU profile there when it exits.
 */
export async function startSystem(
  system: SystemId,
  backend: BackendCommand,
  profileDir?: string,
): Promise<RunningSystem> {
  if (system === "direct") {
    // setsid makes the backend lead its own group, so cleanup can check it.
    return {
      endpoint: { kind: "stdio", command: "setsid", args: [backend.command, ...backend.args] },
      toolName: "echo",
      backendArgs: backend.args,
      close: () => Promise.resolve(),
    };
  }
  const port = freeLoopbackPort();
  const url = `http://127.0.0.1:${port}/mcp`;
  if (system === "direct-http") {
    // The backend's own HTTP transport: what a client gets without any gateway.
    const backendArgs = [...backend.args.slice(0, -1), "streamableHttp"];
    const child = spawnGroup(backend.command, backendArgs, { env: { PORT: String(port) } });
    return {
      endpoint: { kind: "http", url },
      toolName: "echo",
      process: child,
      backendArgs,
      close: child.close,
    };
  }
  if (system === "safla" || system === "safla-jwt") {
    // With auth on, every call carries a JWT the gateway verifies (keys from
    // an issuer in this process); the same token each time, as a client sends it.
    const issuer: TestIssuer | undefined = system === "safla-jwt"
      ? await startTestIssuer()
      : undefined;
    const headers = issuer === undefined ? undefined : {
      authorization: `Bearer ${await issuer.mint({
        iss: issuer.issuer,
        aud: url,
        sub: "bench",
        scope: "mcp",
        exp: Math.floor(Date.now() / 1000) + 24 * 3600,
      })}`,
    };
    const auth = issuer === undefined
      ? {}
      : { auth: { resource: url, requiredScopes: ["mcp"], oauth: { issuer: issuer.issuer } } };
    const configFile = await Deno.makeTempFile({ prefix: "safla-bench-", suffix: ".json" });
    await Deno.writeTextFile(
      configFile,
      JSON.stringify({ mcpServers: { [SERVICE]: backend }, ...auth }),
    );
    const profile = profileDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`];
    const child = spawnGroup(Deno.execPath(), [
      "run",
      "-A",
      ...profile,
      MAIN_TS,
      "serve",
      "--config",
      configFile,
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
    ], { cwd: ROOT_DIR });
    return {
      endpoint: { kind: "http", url, headers },
      toolName: `${SERVICE}__echo`,
      process: child,
      backendArgs: backend.args,
      close: async () => {
        try {
          await child.close();
        } finally {
          await Deno.remove(configFile).catch(() => {});
          await issuer?.close();
        }
      },
    };
  }
  const backendLine = [backend.command, ...backend.args].join(" ");
  if (/["'\\$`]/.test(backendLine)) {
    throw new SystemUnavailableError(system, `backend command needs shell quoting: ${backendLine}`);
  }
  const child = system === "supergateway"
    ? spawnGroup("npx", [
      "-y",
      SUPERGATEWAY_PACKAGE,
      "--stdio",
      backendLine,
      "--outputTransport",
      "streamableHttp",
      "--stateful",
      "--port",
      String(port),
      // Per-message logging at the default level would slow it; give it its best.
      "--logLevel",
      "none",
    ])
    : spawnGroup("npx", [
      "-y",
      MCP_PROXY_PACKAGE,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--server",
      "stream",
      // The resumability store is a feature the others do not run; leave it out.
      "--no-eventStore",
      "--",
      backend.command,
      ...backend.args,
    ]);
  return {
    endpoint: { kind: "http", url },
    toolName: "echo",
    process: child,
    backendArgs: backend.args,
    close: child.close,
  };
}

/**
 * Connects a client of `kind` once `system` serves its echo tool, retrying while it
 * starts; throws {@link SystemUnavailableError} with the process's last
 * output if it exits or does not come up within `timeoutMs`.
 */
export async function connectWhenReady(
  id: SystemId,
  system: RunningSystem,
  kind: ClientKind,
  timeoutMs: number,
): Promise<LoadClient> {
  const retryMs = 250;
  const deadlineMs = performance.now() + timeoutMs;
  let exited = false;
  void system.process?.exited.then(() => exited = true);
  let lastError = "";
  while (performance.now() < deadlineMs) {
    if (exited) {
      throw new SystemUnavailableError(id, `exited at start: ${lastLines(system)}`);
    }
    let client: LoadClient | undefined;
    try {
      client = await connectClient(
        system.endpoint,
        kind,
        Math.max(1, deadlineMs - performance.now()),
      );
      if (await hasTool(client, system.toolName)) return client;
      lastError = `tool ${system.toolName} not listed`;
    } catch (error) {
      lastError = (error as Error).message;
    }
    await client?.close().catch(() => {});
    if (system.endpoint.kind === "stdio") break; // a spawned backend does not get readier
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
  throw new SystemUnavailableError(
    id,
    `not ready in ${timeoutMs} ms: ${lastError} ${lastLines(system)}`,
  );
}

function lastLines(system: RunningSystem): string {
  const tail = system.process?.outputTail() ?? "";
  return tail.trim().split("\n").slice(-3).join(" | ").slice(-300);
}
