/**
 * `deno task serve`: a local cluster, or one node of a cluster spread over machines.
 *
 *     deno task serve                                   # 3 nodes on loopback, demo backend
 *     deno task serve --config FILE [--nodes N] [--port BASE] [--data DIR] [--secret S]
 *     deno task serve --node-id ID --peers LIST [--config FILE] [--data DIR] [--join]
 *
 * Locally, node i (1-based) serves HTTP (MCP, admin, health) on BASE+i-1 and
 * Raft on that port + 1000. The secret is generated unless given with
 * `--secret` or `SAFLA_CLUSTER_SECRET`, and reaches the nodes through their
 * environment. Ctrl-C or SIGTERM stops every node; so does the launcher's
 * own death, since each node exits when its stdin closes.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { FlagError, generateSecret, SECRET_ENV, validateSecret } from "./cluster_args.ts";
import { LocalCluster } from "./local_cluster.ts";
import { runNode } from "./node_main.ts";
import { DEFAULT_SETTINGS, loadConfig } from "../config.ts";

const USAGE = `usage:
  deno task serve [--config FILE] [--nodes N] [--port BASE] [--data DIR] [--secret S]
  deno task serve --node-id ID --peers ID=HOST:PORT[/RAFTPORT],... [--config FILE] [--data DIR] [--join]`;

/** How long the launcher waits for the first leader. */
const STARTUP_TIMEOUT_MS = 60_000;

/**
 * Records which cluster a data dir holds, and refuses to start a different
 * one over it: nodes with data keep their old membership, so a node count
 * that changed between runs would make a fresh node bootstrap a cluster
 * whose first entries disagree with theirs.
 */
export async function claimDataDir(
  dataDir: string,
  clusterId: string,
  nodes: number,
): Promise<void> {
  const file = `${dataDir}/cluster.json`;
  const claim = { clusterId, nodes };
  let existing: string | undefined;
  try {
    existing = await Deno.readTextFile(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (existing === undefined) {
    await Deno.mkdir(dataDir, { recursive: true });
    await Deno.writeTextFile(file, JSON.stringify(claim));
    return;
  }
  const held = JSON.parse(existing) as { clusterId: string; nodes: number };
  if (held.clusterId !== clusterId || held.nodes !== nodes) {
    throw new FlagError(
      "data",
      `${dataDir} holds cluster "${held.clusterId}" of ${held.nodes} nodes, not "${clusterId}" of ` +
        `${nodes}; start it with --nodes ${held.nodes}, or give a fresh --data directory`,
    );
  }
}

/** Runs the launcher; returns the exit code. */
export async function runLauncher(args: string[]): Promise<number> {
  if (args.includes("--node-id")) return await runNode(args);
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        config: { type: "string" },
        nodes: { type: "string", default: "3" },
        port: { type: "string", default: "8080" },
        data: { type: "string", default: "./data" },
        secret: { type: "string" },
        "cluster-id": { type: "string", default: "safla" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : error}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let cluster: LocalCluster;
  try {
    const nodes = Number(values.nodes);
    const basePort = Number(values.port);
    if (!Number.isInteger(basePort) || basePort < 1) {
      throw new FlagError("port", `expected a port number, got "${values.port}"`);
    }
    const given = values.secret ?? Deno.env.get(SECRET_ENV);
    const secret = given === undefined ? generateSecret() : validateSecret(given, "--secret");
    if (values.config !== undefined) await Deno.stat(values.config);
    await claimDataDir(values.data, values["cluster-id"], nodes);
    cluster = await LocalCluster.start({
      nodes,
      basePort,
      dataDir: values.data,
      secret,
      clusterId: values["cluster-id"],
      configFile: values.config,
      demo: values.config === undefined,
      onLog: (id, line) => console.error(line.startsWith("[") ? line : `[${id}] ${line}`),
    });
  } catch (error) {
    if (error instanceof FlagError || error instanceof Deno.errors.NotFound) {
      console.error(`${error.message}\n${USAGE}`);
      return 2;
    }
    throw error;
  }
  const stop = Promise.withResolvers<void>();
  const onSignal = () => stop.resolve();
  for (const signal of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(signal, onSignal);
  try {
    const leader = await Promise.race([
      cluster.waitForLeader(STARTUP_TIMEOUT_MS),
      stop.promise.then(() => undefined),
    ]);
    if (leader !== undefined) {
      // Ready includes each backend's first start, which may be a cold `npx` install.
      const config = values.config === undefined ? undefined : await loadConfig(values.config);
      const startBudgetMs = Math.max(
        config?.settings.startTimeoutMs ?? DEFAULT_SETTINGS.startTimeoutMs,
        ...(config?.services ?? []).map((s) => s.startTimeoutMs ?? 0),
      );
      await cluster.waitForReady(
        STARTUP_TIMEOUT_MS + startBudgetMs,
        (reason) => console.error(`not ready yet: ${reason}`),
      );
      console.log(`SAFLA cluster of ${cluster.ids.length} nodes is up; leader ${leader}.`);
      for (const id of cluster.ids) {
        const url = cluster.url(id);
        console.log(`  ${id}  MCP ${url}/mcp   admin ${url}/admin/status`);
      }
      // The admin API needs the token; print it so the README's commands work as shown.
      console.log(`Admin token (also in ${values.data}/<node>/admin-token):`);
      console.log(`  export SAFLA_ADMIN_TOKEN=${await cluster.adminToken()}`);
      console.log(
        '  curl -H "Authorization: Bearer $SAFLA_ADMIN_TOKEN" ' +
          `${cluster.url(cluster.ids[0])}/admin/status`,
      );
      console.log("Ctrl-C stops every node.");
      await stop.promise;
    }
    return 0;
  } finally {
    console.error("stopping the cluster...");
    await cluster.stop();
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.removeSignalListener(signal, onSignal);
    }
  }
}

if (import.meta.main) Deno.exit(await runLauncher(Deno.args));
