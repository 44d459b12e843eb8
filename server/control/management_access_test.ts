import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { ADMIN_SCOPE, ANONYMOUS, type Principal } from "@safla/core/access";
import type { CallContext } from "../gateway/call_context.ts";
import type { LocalTool } from "../gateway/gateway.ts";
import { FORBIDDEN } from "../gateway/jsonrpc_codes.ts";
import { config, startNode } from "../testing/harness.ts";
import { adminOnly, mayManage } from "./management_access.ts";

const operator: Principal = {
  ...ANONYMOUS,
  subject: "ops",
  scopes: [ADMIN_SCOPE],
  source: "oauth",
};
const user: Principal = { ...ANONYMOUS, subject: "alice", scopes: ["mcp:tools"], source: "oauth" };

function ctxOf(principal?: Principal): CallContext {
  return { notify: () => Promise.resolve(), ...(principal ? { principal } : {}) } as CallContext;
}

Deno.test("mayManage: the admin scope, or the anonymous caller where the node opts in", () => {
  assert.equal(mayManage(operator, false), true);
  assert.equal(mayManage(user, false), false);
  assert.equal(mayManage(ANONYMOUS, false), false);
  assert.equal(mayManage(ANONYMOUS, true), true);
  // The opt-in is for nodes without auth: an authenticated caller still needs the scope.
  assert.equal(mayManage(user, true), false);
});

Deno.test("adminOnly: refuses with -32013 naming the scope; runs the tool for an admin", async () => {
  let runs = 0;
  const tool: LocalTool = {
    definition: { name: "safla__register_server", inputSchema: { type: "object" } },
    call: () => {
      runs++;
      return Promise.resolve({ content: [] });
    },
  };
  const guarded = adminOnly(tool, false);
  for (const ctx of [ctxOf(), ctxOf(user)]) {
    await assert.rejects(guarded.call({}, ctx), (error: { code: number; message: string }) => {
      assert.equal(error.code, FORBIDDEN);
      assert.match(error.message, /safla:admin/);
      return true;
    });
  }
  assert.equal(runs, 0);
  await guarded.call({}, ctxOf(operator));
  assert.equal(runs, 1);
});

Deno.test({
  name: "an anonymous MCP client cannot register a stdio command (issue 11: remote code execution)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "management-access-" });
    const node = await startNode(config({}));
    const client = new Client({ name: "attacker", version: "1" }, {
      versionNegotiation: { mode: "legacy" },
    });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
      const marker = `${dir}/pwned`;
      for (const name of ["safla__register_node", "safla__register_server"]) {
        const refused = await client.callTool({
          name,
          arguments: {
            name: "evil",
            server: {
              command: "/bin/sh",
              args: ["-c", `touch ${marker}`],
            },
          },
        }).catch((error: { code?: number }) => error);
        assert.equal((refused as { code?: number }).code, FORBIDDEN, JSON.stringify(refused));
      }
      const strategy = await client.callTool({
        name: "safla__set_strategy",
        arguments: { strategy: "round-robin" },
      }).catch((error: { code?: number }) => error);
      assert.equal((strategy as { code?: number }).code, FORBIDDEN);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(node.gateway.serviceNames(), []);
      await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
      // Reading stays open.
      const status = await client.callTool({ name: "safla__status", arguments: {} });
      assert.equal(status.isError, undefined);
      const listed = await client.callTool({ name: "safla__list_servers", arguments: {} });
      assert.equal(listed.isError, undefined);
    } finally {
      await client.close();
      await node.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
