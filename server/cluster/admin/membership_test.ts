import assert from "node:assert/strict";
import type { MemberAddress } from "@safla/transports/host";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { type RunningClusterNode, startClusterNode } from "../cluster_node.ts";
import { adminFetcher } from "../testing/admin_client.ts";

const SECRET = "membership-test-secret";
const adminFetch = adminFetcher(SECRET);

function address(): MemberAddress {
  return { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` };
}

Deno.test({
  name: "membership: phantom members stay learners and cost no quorum; a real one is promoted",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "membership-" });
    const ids = ["n1", "n2", "n3"];
    const members = Object.fromEntries(ids.map((id) => [id, address()]));
    const nodes: RunningClusterNode[] = [];
    try {
      for (const id of ids) {
        nodes.push(
          await startClusterNode({
            nodeId: id,
            clusterId: "membership",
            secret: SECRET,
            dataDir: `${dir}/${id}`,
            members,
            requestTimeoutMs: 2_000,
          }),
        );
      }
      const leaderId = await waitFor("every node to know the leader", () => {
        const leaders = nodes.map((n) => n.host.status().leader);
        return leaders.every((l) => l !== null && l === leaders[0]) && leaders[0];
      }, 10_000);
      const follower = nodes.find((n) => n.host.id !== leaderId)!;
      const leader = nodes.find((n) => n.host.id === leaderId)!;
      const post = async (path: string, body: Record<string, unknown>) => {
        const response = await adminFetch(`${follower.url}${path}`, {
          method: "POST",
          body: JSON.stringify(body),
        });
        return { status: response.status, body: await response.json() };
      };

      await t.step("three phantom members are left learners; writes still commit", async () => {
        for (let i = 0; i < 3; i++) {
          const { status, body } = await post("/admin/members", {
            id: `ghost${i}`,
            ...address(),
            catchUpTimeoutMs: 300,
          });
          assert.equal(status, 202, JSON.stringify(body));
          assert.equal(body.promoted, false);
          assert.match(body.reason, /peer handshake/);
        }
        const status = leader.host.status();
        assert.deepEqual(status.members.voters, ids);
        assert.deepEqual(status.members.learners, ["ghost0", "ghost1", "ghost2"]);
        const put = await adminFetch(`${follower.url}/admin/kv/after-ghosts`, {
          method: "PUT",
          body: JSON.stringify({ value: "ok" }),
        });
        assert.equal(put.status, 200, await put.text());
      });

      await t.step("a taken id or address is refused with 409", async () => {
        const taken = await post("/admin/members", { id: "n2", ...address() });
        assert.equal(taken.status, 409);
        assert.equal(taken.body.field, "id");
        const ghost = await post("/admin/members", { id: "ghost0", ...address() });
        assert.equal(ghost.status, 409);
        assert.match(ghost.body.error, /promote/);
        const peer = await post("/admin/members", {
          id: "n9",
          ...address(),
          peer: members.n2.peer,
        });
        assert.equal(peer.status, 409);
        assert.equal(peer.body.field, "peer");
      });

      await t.step("a phantom is not promoted on request either", async () => {
        const { status, body } = await post("/admin/members/ghost1/promote", {
          catchUpTimeoutMs: 200,
        });
        assert.equal(status, 202, JSON.stringify(body));
        assert.deepEqual(leader.host.status().members.voters, ids);
      });

      await t.step("a real member catches up as a learner, then votes", async () => {
        const n4 = address();
        const joiner = await startClusterNode({
          nodeId: "n4",
          clusterId: "membership",
          secret: SECRET,
          dataDir: `${dir}/n4`,
          members: { ...members, n4 },
          join: true,
          requestTimeoutMs: 2_000,
        });
        nodes.push(joiner);
        const { status, body } = await post("/admin/members", { id: "n4", ...n4 });
        assert.equal(status, 200, JSON.stringify(body));
        assert.equal(body.promoted, true);
        assert.deepEqual(body.members.voters, ["n1", "n2", "n3", "n4"]);
        await waitFor(
          "n4 to apply the data",
          () => joiner.host.store.get("/user/after-ghosts")?.value === "ok",
          5_000,
        );
      });

      await t.step("the phantoms can be removed", async () => {
        for (let i = 0; i < 3; i++) {
          const removed = await adminFetch(`${follower.url}/admin/members/ghost${i}`, {
            method: "DELETE",
          });
          assert.equal(removed.status, 200, await removed.text());
        }
        assert.deepEqual(leader.host.status().members.learners, []);
      });
    } finally {
      for (const node of nodes) await node.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
