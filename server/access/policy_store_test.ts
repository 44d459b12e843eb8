// Replicated policies: two gateway nodes on one Raft store. A policy written
// through node A applies on node B at the same revision, for two principals
// (filtered lists, refused calls, list_changed on B); a stored value that does
// not validate closes its service instead of opening it; denials on B are in
// the audit trail read on A.
import assert from "node:assert/strict";
import { ADMIN_SCOPE, type Principal } from "@safla/core/access";
import { waitFor } from "@safla/transports/host/testing";
import { type RunningClusterNode, startClusterNode } from "../cluster/cluster_node.ts";
import { freeMembers } from "../cluster/local_cluster.ts";
import { type GatewayInstance, startGatewayInstance } from "../instance.ts";
import { config, stdioReplicas } from "../testing/harness.ts";
import { type PrincipalClient, principalClient } from "./testing/principal_session.ts";
import { POLICIES_PREFIX, PolicyStore } from "./policy_store.ts";
import { AccessControl } from "./access_control.ts";
import type { StateStore } from "../store/types.ts";

const who = (subject: string, scopes: string[] = [], groups: string[] = []): Principal => ({
  subject,
  scopes,
  claims: { groups },
  source: "apiKey",
});
const ALICE = who("alice", [], ["eng"]);
const BOB = who("bob");
const ROOT = who("root", [ADMIN_SCOPE]);
/** How long a policy written on one node may take to apply on another. */
const APPLY_BOUND_MS = 5_000;

const names = (tools: { name: string }[]) => tools.map((t) => t.name).sort();

Deno.test({
  name: "replicated policies: written on A, in force on B at the same revision",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "policy-store-" });
    let raft: RunningClusterNode | undefined;
    const nodes: GatewayInstance[] = [];
    const clients: PrincipalClient[] = [];
    try {
      raft = await startClusterNode({
        nodeId: "n1",
        clusterId: "policies",
        secret: "policy-store-secret",
        dataDir: `${dir}/n1`,
        members: freeMembers(1),
      });
      await waitFor("a leader", () => raft!.host.status().role === "leader", 10_000);
      for (const nodeId of ["A", "B"]) {
        nodes.push(
          await startGatewayInstance({
            config: config({ alpha: stdioReplicas(`${nodeId}0`) }),
            store: raft.store,
            nodeId,
          }),
        );
      }
      const [a, b] = nodes;
      for (const n of nodes) {
        n.gateway.access.audit.configure({ flushIntervalMs: 20 });
        await waitFor("alpha's tools", () => n.gateway.listTools().length > 20, 15_000);
      }
      const all = names(b.gateway.listTools().filter((t) => t.name.startsWith("alpha__")));
      const root = await principalClient(a.gateway, ROOT);
      const aliceB = await principalClient(b.gateway, ALICE);
      const bobB = await principalClient(b.gateway, BOB);
      clients.push(root, aliceB, bobB);

      const put = await root.client.callTool({
        name: "safla__policy_put",
        arguments: {
          policy: {
            name: "alpha-access",
            service: "alpha",
            rules: [
              { effect: "allow", claims: { groups: ["eng"] } },
              { effect: "allow", subjects: ["bob"], tools: ["echo", "whoami"] },
            ],
          },
        },
      });
      const revision = (put.structuredContent as { revision: number }).revision;
      assert.equal(a.gateway.access.policies.revision, revision, "in force on A when put returns");
      await waitFor(
        "B at the policy's revision",
        () => b.gateway.access.policies.revision >= revision,
        APPLY_BOUND_MS,
      );
      await waitFor(
        "bob's list_changed on B",
        () => bobB.changed.includes("tools"),
        APPLY_BOUND_MS,
      );

      const bobTools = names((await bobB.client.listTools()).tools);
      assert.deepEqual(bobTools, ["alpha__echo", "alpha__whoami"]);
      assert.deepEqual(
        names((await aliceB.client.listTools()).tools).filter((n) => n.startsWith("alpha__")),
        all,
      );
      await assert.rejects(
        bobB.client.callTool({ name: "alpha__add", arguments: { a: 1, b: 2 } }),
        /Tool alpha__add not found/,
      );
      assert.ok(await aliceB.client.callTool({ name: "alpha__add", arguments: { a: 1, b: 2 } }));
      // Both nodes decide alike at one revision.
      for (const p of [ALICE, BOB, ROOT]) {
        for (const name of ["echo", "add", "increment"]) {
          const target = { kind: "tool", service: "alpha", name } as const;
          assert.equal(
            a.gateway.access.policies.allows(p, target),
            b.gateway.access.policies.allows(p, target),
          );
        }
      }

      // A value written past the tools that does not validate closes its service.
      await raft.store.put(
        `${POLICIES_PREFIX}broken`,
        JSON.stringify({ name: "broken", service: "alpha", rules: "allow all" }),
      );
      await waitFor(
        "alpha closed on B",
        () =>
          !b.gateway.access.policies.allows(ALICE, {
            kind: "tool",
            service: "alpha",
            name: "echo",
          }),
        APPLY_BOUND_MS,
      );
      await raft.store.delete(`${POLICIES_PREFIX}broken`);
      await waitFor(
        "alpha open again to alice on B",
        () =>
          b.gateway.access.policies.allows(ALICE, { kind: "tool", service: "alpha", name: "echo" }),
        APPLY_BOUND_MS,
      );

      // The denial on B, read through A.
      await b.gateway.access.audit.flush();
      const audit = (await root.client.callTool({ name: "safla__audit_list", arguments: {} }))
        .structuredContent as { records: { action: string; target: string; decision: string }[] };
      assert.ok(
        audit.records.some((r) => r.decision === "denied" && r.target === "alpha:add"),
        JSON.stringify(audit.records),
      );
      const stored = await raft.store.range("/gateway/audit/B/");
      assert.ok(stored.kvs.length >= 1, "B's batches are in the store under its own prefix");

      await root.client.callTool({
        name: "safla__policy_delete",
        arguments: { name: "alpha-access" },
      });
      await waitFor(
        "bob sees every alpha tool on B again",
        () => !b.gateway.access.policies.governs("alpha"),
        APPLY_BOUND_MS,
      );
      assert.deepEqual(
        names((await bobB.client.listTools()).tools).filter((n) => n.startsWith("alpha__")),
        all,
      );
    } finally {
      for (const c of clients) await c.close();
      for (const n of nodes) await n.close();
      await raft?.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("a node that starts before its cluster has a leader loads the policies once it has one", async () => {
  let failures = 2;
  const access = new AccessControl();
  const policy = { name: "p", service: "s", rules: [{ effect: "deny" }] };
  const store = {
    range: () =>
      failures-- > 0 ? Promise.reject(new Error("no leader yet")) : Promise.resolve({
        kvs: [{ key: `${POLICIES_PREFIX}p`, value: JSON.stringify(policy) }],
        revision: 7,
        more: false,
      }),
    watch: () => Promise.resolve({ cancel: () => Promise.resolve() }),
  } as unknown as StateStore;
  const policies = new PolicyStore(store, access);
  await policies.start();
  assert.equal(access.policies.revision, 7);
  assert.ok(access.policies.governs("s"));
  await policies.close();
});
