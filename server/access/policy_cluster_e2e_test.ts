// Real processes: a 3-node cluster fronting the test backend, callers
// authenticated by API keys. A policy written on n1 by an admin takes effect
// on n2 and n3 within a bound, for two principals given as parameters: the
// restricted one's lists are filtered and its calls refused, on the 2025
// session protocol (with list_changed for it alone) and the 2026 stateless
// one, while the allowed one keeps everything; the denials on n2 and n3 are
// in the audit read on n1; deleting the policy on n3 reopens the service.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { ADMIN_SCOPE } from "@safla/core/access";
import { waitFor } from "@safla/transports/host/testing";
import { generateSecret } from "../cluster/cluster_args.ts";
import { LocalCluster } from "../cluster/local_cluster.ts";
import { generateApiKey } from "../auth/api_keys.ts";

/** Someone calling the cluster: the subject the gateway sees, its scopes, and its API key. */
interface Caller {
  subject: string;
  scopes: string[];
  key: string;
  hash: string;
}

function caller(subject: string, scopes: string[] = []): Caller {
  return { subject, scopes, ...generateApiKey() };
}

/** How long a policy written on one node may take to apply on another. */
const APPLY_BOUND_MS = 5_000;
const BACKEND = new URL("../testing/backend_main.ts", import.meta.url).pathname;

async function connect(url: string, who: Caller, era: "legacy" | "auto") {
  const client = new Client({ name: `${who.subject}-${era}`, version: "1" }, {
    versionNegotiation: { mode: era },
  });
  const changed: string[] = [];
  client.setNotificationHandler("notifications/tools/list_changed", () => {
    changed.push("tools");
  });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${who.key}` } },
    }),
  );
  return { client, changed };
}

const demoTools = async (client: Client) =>
  (await client.listTools()).tools.map((t) => t.name).filter((n) => n.startsWith("demo__")).sort();

/**
 * The scenario for one admin and two principals: `allowed` may use all of
 * the demo service, `restricted` only its `whoami` tool.
 */
async function scenario(
  cluster: LocalCluster,
  admin: Caller,
  allowed: Caller,
  restricted: Caller,
  clients: Client[],
): Promise<void> {
  const [n1, n2, n3] = cluster.ids.map((id) => cluster.url(id));
  const adminN1 = (await connect(n1, admin, "legacy")).client;
  const allowedN2 = await connect(n2, allowed, "legacy");
  const restrictedN2 = await connect(n2, restricted, "legacy");
  const allowedN3 = (await connect(n3, allowed, "auto")).client;
  const restrictedN3 = (await connect(n3, restricted, "auto")).client;
  clients.push(adminN1, allowedN2.client, restrictedN2.client, allowedN3, restrictedN3);
  await waitFor(
    "the demo backend on n2 and n3",
    async () =>
      (await demoTools(restrictedN2.client)).includes("demo__echo") &&
      (await demoTools(restrictedN3)).includes("demo__echo"),
    20_000,
  );
  const all = await demoTools(allowedN2.client);

  await assert.rejects(
    restrictedN2.client.callTool({
      name: "safla__policy_put",
      arguments: { policy: { name: "x", service: "demo", rules: [] } },
    }),
    (e) => (e as { code?: number }).code === -32013,
    "only an admin changes policies",
  );
  const put = await adminN1.callTool({
    name: "safla__policy_put",
    arguments: {
      policy: {
        name: "demo-access",
        service: "demo",
        rules: [
          { effect: "allow", subjects: [allowed.subject] },
          { effect: "allow", subjects: [restricted.subject], tools: ["whoami"] },
        ],
      },
    },
  });
  assert.ok(!put.isError, JSON.stringify(put));
  const writtenMs = performance.now();
  await waitFor(
    `demo narrowed for ${restricted.subject} on n2 and n3`,
    async () =>
      (await demoTools(restrictedN2.client)).join() === "demo__whoami" &&
      (await demoTools(restrictedN3)).join() === "demo__whoami",
    APPLY_BOUND_MS,
  );
  console.log(
    `policy in force on n2 and n3 ${Math.round(performance.now() - writtenMs)} ms after put on n1`,
  );
  await waitFor("list_changed on n2", () => restrictedN2.changed.includes("tools"), APPLY_BOUND_MS);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(allowedN2.changed, [], "the allowed principal's view did not change");
  assert.deepEqual(await demoTools(allowedN2.client), all);
  assert.deepEqual(await demoTools(allowedN3), all);

  for (const client of [restrictedN2.client, restrictedN3]) {
    await assert.rejects(
      client.callTool({ name: "demo__echo", arguments: { message: "x" } }),
      (e) =>
        (e as { code?: number }).code === -32602 && /Tool demo__echo not found/.test(String(e)),
    );
    assert.ok(!(await client.callTool({ name: "demo__whoami", arguments: {} })).isError);
  }
  for (const client of [allowedN2.client, allowedN3]) {
    const echoed = await client.callTool({ name: "demo__echo", arguments: { message: "hi" } });
    assert.match(JSON.stringify(echoed.content), /hi/);
  }

  await waitFor(
    "n2's and n3's denials in the audit read on n1",
    async () => {
      const audit = (await adminN1.callTool({ name: "safla__audit_list", arguments: {} }))
        .structuredContent as { records: { principal: string; target: string; count?: number }[] };
      const denials = audit.records.filter((r) =>
        r.target === "demo:echo" && r.principal.endsWith(`|${restricted.subject}`)
      );
      return denials.reduce((sum, r) => sum + (r.count ?? 1), 0) >= 2;
    },
    10_000,
  );

  const adminN3 = (await connect(n3, admin, "auto")).client;
  clients.push(adminN3);
  const deleted = await adminN3.callTool({
    name: "safla__policy_delete",
    arguments: { name: "demo-access" },
  });
  assert.ok(!deleted.isError, JSON.stringify(deleted));
  await waitFor(
    "demo reopened on n2",
    async () => (await demoTools(restrictedN2.client)).join() === all.join(),
    APPLY_BOUND_MS,
  );
}

Deno.test({
  name: "a policy written on n1 is enforced on n2 and n3 within a bound, for two principals",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "policy-cluster-" });
    const admin = caller("ops", [ADMIN_SCOPE]);
    const alice = caller("alice");
    const bob = caller("bob");
    const configFile = `${dataDir}/gateway.json`;
    await Deno.writeTextFile(
      configFile,
      JSON.stringify({
        mcpServers: {
          demo: { command: Deno.execPath(), args: ["run", "-A", BACKEND, "--replica", "r1"] },
        },
        auth: {
          apiKeys: [admin, alice, bob].map((c) => ({
            hash: c.hash,
            subject: c.subject,
            scopes: c.scopes,
          })),
        },
      }),
    );
    const cluster = await LocalCluster.start({
      nodes: 3,
      basePort: 0,
      dataDir,
      secret: generateSecret(),
      clusterId: "policies",
      configFile,
    });
    const clients: Client[] = [];
    try {
      await cluster.waitForLeader(30_000);
      await cluster.waitForReady(20_000);
      await scenario(cluster, admin, alice, bob, clients);
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      await cluster.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
