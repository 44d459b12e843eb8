/**
 * One node of a cluster as a process.
 *
 *     deno run -A server/cluster/node_main.ts --node-id n1 \
 *       --peers n1=10.0.0.1:8080,n2=10.0.0.2:8080,n3=10.0.0.3:8080 \
 *       [--data ./data] [--config FILE | --demo] [--cluster-id safla] [--join]
 *       [--peer-listen HOST:PORT]   # bind Raft here when peers dial a relay or NAT address
 *       [--force-new-cluster]       # quorum recovery: restart from this node's data as its only voter
 *       [--tick-ms 50] [--election-ticks 6] [--heartbeat-ticks 1]
 *       [--snapshot-every-entries 100000] [--wal-segment-size-bytes 67108864]
 *       [--auto-compaction-mode revision|periodic|off] [--auto-compaction-retention 10000]
 *       [--auto-compaction-interval-ms 300000]
 *       [--peer-frame-limit-bytes 67108864] # largest Raft frame; snapshots stream in chunks below it
 *       [--insecure-no-auth]   # serve MCP beyond loopback without "auth" in the config
 *       [--peer-tls-cert FILE --peer-tls-key FILE --peer-tls-ca FILE [--peer-mtls]]
 *
 * The secret comes from `--secret` or `SAFLA_CLUSTER_SECRET`. SIGINT or
 * SIGTERM stop the node cleanly; with `--exit-with-stdin` so does the end of
 * stdin, so a launcher that dies takes its nodes with it.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, type GatewayConfig, loadConfig, parseConfig } from "../config.ts";
import {
  FlagError,
  parsePeers,
  parseStorageFlags,
  SECRET_ENV,
  STORAGE_FLAGS,
  validateSecret,
} from "./cluster_args.ts";
import { startClusterNode } from "./cluster_node.ts";
import { authEnabled } from "../auth/auth_config.ts";
import { checkExposure, ExposureError, INSECURE_NO_AUTH_FLAG } from "../auth/exposure.ts";
import { parsePeerTlsFlags, PEER_TLS_FLAGS } from "./peer_tls_flags.ts";
import {
  DEFAULT_TIMING,
  type HostTiming,
  MemberAddressError,
  validateTiming,
} from "@safla/transports/host";
import { SnapshotCorruptionError, WalOpenError } from "@safla/transports/wal";

/** A gateway config fronting the built-in test backend over stdio. */
export function demoGatewayConfig(): GatewayConfig {
  const backend = new URL("../testing/backend_main.ts", import.meta.url).pathname;
  return parseConfig({
    mcpServers: {
      demo: { command: Deno.execPath(), args: ["run", "-A", backend, "--replica", "r1"] },
    },
  }, "<built-in demo>");
}

/** Runs one node until a signal; returns the exit code. */
export async function runNode(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "node-id": { type: "string" },
      peers: { type: "string" },
      data: { type: "string", default: "./data" },
      config: { type: "string" },
      demo: { type: "boolean", default: false },
      "cluster-id": { type: "string", default: "safla" },
      secret: { type: "string" },
      join: { type: "boolean", default: false },
      "force-new-cluster": { type: "boolean", default: false },
      "peer-listen": { type: "string" },
      "exit-with-stdin": { type: "boolean", default: false },
      "request-timeout-ms": { type: "string", default: "5000" },
      "tick-ms": { type: "string", default: String(DEFAULT_TIMING.tickMs) },
      "election-ticks": { type: "string", default: String(DEFAULT_TIMING.electionTicks) },
      "heartbeat-ticks": { type: "string", default: String(DEFAULT_TIMING.heartbeatTicks) },
      ...STORAGE_FLAGS,
      "peer-frame-limit-bytes": { type: "string" },
      [INSECURE_NO_AUTH_FLAG]: { type: "boolean", default: false },
      ...PEER_TLS_FLAGS,
    },
  });
  let node;
  try {
    const id = values["node-id"];
    if (id === undefined) throw new FlagError("node-id", "required");
    if (values.peers === undefined) throw new FlagError("peers", "required");
    const members = parsePeers(values.peers);
    if (!members[id]) throw new FlagError("peers", `does not list this node "${id}"`);
    const secret = validateSecret(
      values.secret ?? Deno.env.get(SECRET_ENV),
      `--secret or ${SECRET_ENV}`,
    );
    if (values.join && values["force-new-cluster"]) {
      throw new FlagError("force-new-cluster", "recovers from this node's data; it cannot --join");
    }
    const requestTimeoutMs = Number(values["request-timeout-ms"]);
    if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 1) {
      throw new FlagError("request-timeout-ms", "expected a positive integer");
    }
    const timing: HostTiming = {
      tickMs: Number(values["tick-ms"]),
      electionTicks: Number(values["election-ticks"]),
      heartbeatTicks: Number(values["heartbeat-ticks"]),
    };
    try {
      validateTiming(timing);
    } catch (error) {
      throw new FlagError("tick-ms", error instanceof Error ? error.message : String(error));
    }
    const maxPeerFrameBytes = optionalInteger(values, "peer-frame-limit-bytes", 4096);
    const gatewayConfig = values.config !== undefined
      ? await loadConfig(values.config)
      : values.demo
      ? demoGatewayConfig()
      : undefined;
    if (gatewayConfig !== undefined) {
      const hostname = new URL(members[id].url).hostname;
      const on = authEnabled(gatewayConfig.auth);
      const warning = checkExposure(hostname, on, values[INSECURE_NO_AUTH_FLAG]);
      if (warning !== undefined) console.error(`[${id}] ${warning}`);
    }
    node = await startClusterNode({
      nodeId: id,
      clusterId: values["cluster-id"],
      secret,
      dataDir: `${values.data}/${id}`,
      members,
      join: values.join,
      forceNewCluster: values["force-new-cluster"],
      peerListen: values["peer-listen"],
      gatewayConfig,
      requestTimeoutMs,
      timing,
      tunables: parseStorageFlags(values),
      maxPeerFrameBytes,
      peerTls: await parsePeerTlsFlags(values),
      onLog: (line) => console.error(line),
    });
    console.error(
      `[${id}] serving ${node.url} (admin ${node.url}/admin/status with the token in ` +
        `${values.data}/${id}/admin-token, MCP ${node.url}/mcp)`,
    );
  } catch (error) {
    if (
      error instanceof FlagError || error instanceof ConfigError || error instanceof WalOpenError ||
      error instanceof SnapshotCorruptionError || error instanceof MemberAddressError ||
      error instanceof ExposureError
    ) {
      console.error(error.message);
      return 2;
    }
    if (error instanceof Deno.errors.AddrInUse) {
      console.error(`a port of this node is already in use (${error.message}); see --peers`);
      return 2;
    }
    throw error;
  }
  const stop = Promise.withResolvers<void>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => stop.resolve());
  }
  if (values["exit-with-stdin"]) {
    Deno.stdin.readable.pipeTo(new WritableStream()).catch(() => {}).finally(() => stop.resolve());
  }
  await stop.promise;
  await node.close();
  return 0;
}

/** The integer value of an optional flag, at least `min`; undefined when absent. */
function optionalInteger(
  values: Record<string, unknown>,
  flag: string,
  min: number,
): number | undefined {
  const raw = values[flag];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new FlagError(flag, `expected an integer >= ${min}, got "${raw}"`);
  }
  return value;
}

if (import.meta.main) Deno.exit(await runNode(Deno.args));
