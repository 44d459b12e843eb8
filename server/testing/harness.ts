/**
 * Helpers for end-to-end tests: configs that run the test backend, spawned
 * HTTP backends on ephemeral ports, and a gateway node on loopback.
 *
 * @module
 */
import type { BackendSpec } from "@safla/transports";
import { type GatewayConfig, parseConfig } from "../config.ts";
import { type GatewayInstance, startGatewayInstance } from "../instance.ts";

const BACKEND_MAIN = new URL("./backend_main.ts", import.meta.url).pathname;

/** A stdio spec that runs the test backend as replica `replica`. */
export function stdioBackend(replica: string, extraArgs: string[] = []): BackendSpec {
  return {
    kind: "stdio",
    command: Deno.execPath(),
    args: ["run", "-A", BACKEND_MAIN, "--replica", replica, ...extraArgs],
  };
}

/** A running HTTP test backend. */
export interface HttpBackend {
  url: string;
  pid: number;
  close(): Promise<void>;
}

/**
 * Spawns the test backend over Streamable HTTP on an ephemeral loopback port;
 * with `resourceUpdates` it declares resource subscriptions and can report updates;
 * `port` (e.g. the port of a backend that was stopped) instead of a free one;
 * `extraTools` more tools named `extra_0`, `extra_1`, ….
 */
export async function spawnHttpBackend(
  replica: string,
  options: { resourceUpdates?: boolean; port?: number; extraTools?: number } = {},
): Promise<HttpBackend> {
  const flags = options.resourceUpdates ? ["--resource-updates"] : [];
  if (options.extraTools) flags.push("--extra-tools", String(options.extraTools));
  const port = String(options.port ?? 0);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BACKEND_MAIN, "--replica", replica, "--port", port, ...flags],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`http backend ${replica} exited before listening: ${seen}`);
      seen += value;
      const match = seen.match(/listening on (\d+)/);
      if (match) {
        // Keep draining stderr so the child never blocks on a full pipe.
        void (async () => {
          while (!(await reader.read()).done) { /* drain */ }
        })().catch(() => {});
        return {
          url: `http://127.0.0.1:${match[1]}/mcp`,
          pid: child.pid,
          close: async () => {
            try {
              child.kill("SIGKILL");
            } catch { /* already gone */ }
            await child.status;
          },
        };
      }
    }
  } finally {
    clearTimeout(deadline);
  }
}

/** Builds a validated config from `mcpServers` entries plus gateway settings. */
export function config(
  mcpServers: Record<string, unknown>,
  gateway: Record<string, unknown> = {},
): GatewayConfig {
  return parseConfig({
    mcpServers,
    gateway: { connectTimeoutMs: 20_000, initialBackoffMs: 50, maxBackoffMs: 500, ...gateway },
  });
}

/** The `mcpServers` entry for a stdio test backend replica list. */
export function stdioReplicas(...replicas: string[]): Record<string, unknown> {
  return {
    replicas: replicas.map((r) => {
      const spec = stdioBackend(r) as { command: string; args: string[] };
      return { command: spec.command, args: spec.args };
    }),
  };
}

/** Starts a node on an ephemeral loopback port. */
export function startNode(cfg: GatewayConfig): Promise<GatewayInstance> {
  return startGatewayInstance({ config: cfg, port: 0, hostname: "127.0.0.1", seed: 7 });
}

/** True while a process with `pid` exists. */
export function processAlive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}
