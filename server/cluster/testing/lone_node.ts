/**
 * A one-member cluster node in-process, for tests of what a node serves (its
 * admin API, metrics, the operator CLI): a temporary data dir, free loopback
 * ports, a leader before it is returned, and a close that removes the dir.
 *
 * @module
 */
import { freePort, waitFor } from "@safla/transports/host/testing";
import type { GatewayConfig } from "../../config.ts";
import { type RunningClusterNode, startClusterNode } from "../cluster_node.ts";

/** A started {@link startLoneNode} node and the dir it keeps its data in. */
export interface LoneNode {
  node: RunningClusterNode;
  /** The parent of the node's data dir (`<dir>/n1`). */
  dir: string;
  /** Stops the node and removes its data. */
  close(): Promise<void>;
}

/** Starts node `n1` of cluster `clusterId`, fronting `gatewayConfig`, and waits until it leads. */
export async function startLoneNode(
  clusterId: string,
  gatewayConfig: GatewayConfig,
): Promise<LoneNode> {
  const dir = await Deno.makeTempDir({ prefix: `${clusterId}-` });
  const node = await startClusterNode({
    nodeId: "n1",
    clusterId,
    secret: `${clusterId}-test-secret-0123456789`,
    dataDir: `${dir}/n1`,
    members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
    gatewayConfig,
    requestTimeoutMs: 2_000,
  });
  const close = async () => {
    await node.close();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitFor("a leader", () => node.host.status().role === "leader", 5_000);
  } catch (error) {
    await close();
    throw error;
  }
  return { node, dir, close };
}
