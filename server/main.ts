/**
 * The gateway CLI.
 *
 *     deno run -A server/main.ts serve --config FILE [--port 8080] [--host 127.0.0.1] [--store etcd://HOST:PORT,...]
 *     deno run -A server/main.ts stdio --config FILE
 *     deno run -A server/main.ts cluster [--nodes 3] [--config FILE] ...   (see server/cluster/launcher.ts)
 *
 * `serve` runs one gateway node with the HTTP front; with `--store etcd://...`
 * its registry and 2025 sessions live in etcd, so several `serve` nodes on one
 * etcd cluster share them (SAFLA_CLUSTER_SECRET, the same on each, lets any
 * node resume another's input rounds). `stdio` serves one
 * desktop client over stdin/stdout. Diagnostics go to stderr.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config.ts";
import { startGatewayInstance } from "./instance.ts";
import { Gateway } from "./gateway/gateway.ts";
import { createResumeCodec } from "./front/front.ts";
import { addManagementTools } from "./control/management.ts";
import { serveGatewayStdio } from "./front/stdio_front.ts";
import { SeededRng } from "@safla/core";
import { runLauncher } from "./cluster/launcher.ts";
import { clusterStateKey } from "./cluster/cluster_node.ts";
import { parseStoreOption, StoreOptionError } from "./store/parse.ts";
import { EtcdStore } from "./store/etcd/etcd_store.ts";
import { authEnabled } from "./auth/auth_config.ts";
import { checkExposure, ExposureError, INSECURE_NO_AUTH_FLAG } from "./auth/exposure.ts";
import { stdioPrincipal } from "./auth/stdio_principal.ts";
import { installCallGate } from "./quota/mod.ts";

const USAGE = `usage:
  safla serve --config FILE [--port N] [--host ADDR] [--store etcd://HOST:PORT,...] [--insecure-no-auth]
  safla stdio --config FILE
  safla cluster [--config FILE] [--nodes N] [--port BASE] [--data DIR] [--secret S]
  safla cluster --node-id ID --peers ID=HOST:PORT,... [--config FILE] [--data DIR] [--join]`;

/** Runs the CLI with `args`; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  // The replicated cluster (server/cluster/launcher.ts) parses its own flags.
  if (command === "cluster") return await runLauncher(rest);
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: "string" },
      port: { type: "string", default: "8080" },
      host: { type: "string", default: "127.0.0.1" },
      store: { type: "string" },
      [INSECURE_NO_AUTH_FLAG]: { type: "boolean", default: false },
    },
  });
  if ((command !== "serve" && command !== "stdio") || values.config === undefined) {
    console.error(USAGE);
    return 2;
  }
  let config;
  try {
    config = await loadConfig(values.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`config error: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const stop = Promise.withResolvers<void>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => stop.resolve());
  }
  if (command === "serve") {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`--port must be an integer from 0 to 65535, got ${values.port}`);
      return 2;
    }
    try {
      const warning = checkExposure(
        values.host,
        authEnabled(config.auth),
        values[INSECURE_NO_AUTH_FLAG],
      );
      if (warning !== undefined) console.error(warning);
    } catch (error) {
      if (!(error instanceof ExposureError)) throw error;
      console.error(error.message);
      return 2;
    }
    let store: EtcdStore | undefined;
    let etcdEndpoints: string[] = [];
    try {
      const spec = parseStoreOption(values.store);
      if (spec.engine === "etcd") {
        etcdEndpoints = spec.endpoints;
        store = new EtcdStore({ endpoints: etcdEndpoints });
      } else if (values.store !== undefined) {
        console.error(
          "--store raft is the replicated store of `safla cluster`; serve takes etcd://",
        );
        return 2;
      }
    } catch (error) {
      if (error instanceof StoreOptionError) {
        console.error(error.message);
        return 2;
      }
      throw error;
    }
    const secret = Deno.env.get("SAFLA_CLUSTER_SECRET");
    const stateKey = secret === undefined ? undefined : await clusterStateKey(secret);
    const node = await startGatewayInstance({
      config,
      port,
      hostname: values.host,
      store,
      stateKey,
    });
    console.error(
      `safla gateway listening on ${node.url}/mcp` +
        (store ? ` (state in etcd at ${etcdEndpoints.join(",")})` : ""),
    );
    await stop.promise;
    await node.close();
    await store?.close();
    return 0;
  }
  const codec = createResumeCodec(crypto.getRandomValues(new Uint8Array(32)));
  const gateway = new Gateway(config, {
    nowMs: () => performance.now(),
    rng: new SeededRng(crypto.getRandomValues(new Uint32Array(1))[0]),
    sealer: codec,
  });
  addManagementTools(gateway, { management: config.management });
  installCallGate(gateway, config.settings, undefined);
  await gateway.start();
  const handle = serveGatewayStdio(gateway, codec, stdioPrincipal(config.auth));
  void handle.closed.then(() => stop.resolve());
  await stop.promise;
  await handle.close();
  await gateway.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
