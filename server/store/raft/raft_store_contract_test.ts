import { runStateStoreContract } from "../contract.ts";
import { waitFor } from "@safla/transports/host/testing";
import { type RunningClusterNode, startClusterNode } from "../../cluster/cluster_node.ts";
import { freeMembers } from "../../cluster/local_cluster.ts";
import { RaftStore } from "./raft_store.ts";

const SECRET = "raft-store-contract-secret";

Deno.test("RaftStore on a follower of a 3-node cluster meets the StateStore contract", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "raft-store-contract-" });
  const members = freeMembers(3);
  const nodes: RunningClusterNode[] = [];
  try {
    for (const id of Object.keys(members)) {
      nodes.push(
        await startClusterNode({
          nodeId: id,
          clusterId: "contract",
          secret: SECRET,
          dataDir: `${dir}/${id}`,
          members,
        }),
      );
    }
    const follower = await waitFor("a leader and a follower", () => {
      const leader = nodes.find((n) => n.host.status().role === "leader");
      return leader && nodes.find((n) => n !== leader && n.host.status().leader === leader.host.id);
    }, 10_000);
    // Each step gets a fresh store over the follower's host; writes are forwarded to the leader.
    await runStateStoreContract(
      t,
      () => Promise.resolve(new RaftStore({ host: follower.host, secret: SECRET })),
      { leaseExpirySlackMs: 5_000 },
    );
  } finally {
    for (const node of nodes) await node.close();
    await Deno.remove(dir, { recursive: true });
  }
});
