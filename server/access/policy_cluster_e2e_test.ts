// Real processes: a 3-node cluster fronting the demo backend. A policy written
// on n1 takes effect on n2 and n3 within a bound: their lists are filtered and
// their calls refused, on the 2025 session protocol (with list_changed) and the
// 2026 stateless one; the denials on other nodes are in the audit read on n1;
// deleting the policy on n3 reopens the service on n1.
//
// The callers are a parameter: each is a name, the subject the gateway sees
// and the headers that authenticate it. Until nodes authenticate callers
// (API keys, OAuth), only the anonymous caller exists on the wire; a second
// principal is exercised in-process (policy_store_test.ts). Callers with
// credentials join CALLERS once the node takes them.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { waitFor } from "@safla/transports/host/testing";
import { generateSecret } from "../cluster/cluster_args.ts";
import { LocalCluster } from "../cluster/local_cluster.ts";

/** Someone calling the cluster. */
interface Caller {
  label: string;
  /** The subject the gateway sees for this caller. */
  subject: string;
  /** What authenticates it on the wire. */
  headers: Record<string, string>;
}

const CALLERS: Caller[] = [{ label: "anonymous", subject: "anonymous", headers: {} }];
/** How long a policy written on one node may take to apply on another. */
const APPLY_BOUND_MS = 5_000;

async function connect(url: string, caller: Caller, era: "legacy" | "auto") {
  const client = new Client({ name: `${caller.label}-${era}`, version: "1" }, {
    versionNegotiation: { mode: era },
  });
  const changed: string[] = [];
  client.setNotificationHandler("notifications/tools/list_changed", () => {
    changed.push("tools");
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: caller.headers },
    }),
  );
  return { client, changed };
}

const toolNames = async (client: Client) => (await client.listTools()).tools.map((t) => t.name);

Deno.test({
  name: "a policy written on n1 is enforced on n2 and n3 within a bound, for both eras",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "policy-cluster-" });
    const cluster = await LocalCluster.start({
      nodes: 3,
      basePort: 0,
      dataDir,
      secret: generateSecret(),
      clusterId: "policies",
      demo: true,
    });
    const clients: Client[] = [];
    try {
      await cluster.waitForLeader(30_000);
      await cluster.waitForReady(20_000);
      const [n1, n2, n3] = cluster.ids.map((id) => cluster.url(id));
      const admin = (await connect(n1, CALLERS[0], "legacy")).client;
      clients.push(admin);
      for (const caller of CALLERS) {
        const legacy = await connect(n2, caller, "legacy");
        const modern = await connect(n3, caller, "auto");
        clients.push(legacy.client, modern.client);
        await waitFor(
          "the demo backend on n2 and n3",
          async () =>
            (await toolNames(legacy.client)).includes("demo__echo") &&
            (await toolNames(modern.client)).includes("demo__echo"),
          20_000,
        );

        const put = await admin.callTool({
          name: "safla__policy_put",
          arguments: {
            policy: {
              name: "demo-ops",
              service: "demo",
              rules: [{ effect: "allow", subjects: ["ops-bot"] }],
            },
          },
        });
        assert.ok(!put.isError, JSON.stringify(put));
        const writtenMs = performance.now();
        await waitFor(
          `demo hidden from ${caller.label} on n2 and n3`,
          async () =>
            !(await toolNames(legacy.client)).some((n) => n.startsWith("demo__")) &&
            !(await toolNames(modern.client)).some((n) => n.startsWith("demo__")),
          APPLY_BOUND_MS,
        );
        console.log(
          `policy in force on n2 and n3 ${
            Math.round(performance.now() - writtenMs)
          } ms after put on n1`,
        );
        await waitFor("list_changed on n2", () => legacy.changed.includes("tools"), APPLY_BOUND_MS);
        for (const client of [legacy.client, modern.client]) {
          await assert.rejects(
            client.callTool({ name: "demo__echo", arguments: { message: "x" } }),
            (e) =>
              (e as { code?: number }).code === -32602 &&
              /Tool demo__echo not found/.test(String(e)),
          );
        }

        await waitFor(
          "n2's and n3's denials in the audit read on n1",
          async () => {
            const audit = (await admin.callTool({ name: "safla__audit_list", arguments: {} }))
              .structuredContent as {
                records: { principal: string; target: string; count?: number }[];
              };
            const denials = audit.records.filter((r) =>
              r.target === "demo:echo" && r.principal.endsWith(`|${caller.subject}`)
            );
            return denials.reduce((sum, r) => sum + (r.count ?? 1), 0) >= 2;
          },
          10_000,
        );

        const remover = (await connect(n3, CALLERS[0], "auto")).client;
        clients.push(remover);
        const deleted = await remover.callTool({
          name: "safla__policy_delete",
          arguments: { name: "demo-ops" },
        });
        assert.ok(!deleted.isError, JSON.stringify(deleted));
        await waitFor(
          "demo back on n1 and n2",
          async () =>
            (await toolNames(admin)).includes("demo__echo") &&
            (await toolNames(legacy.client)).includes("demo__echo"),
          APPLY_BOUND_MS,
        );
      }
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      await cluster.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
