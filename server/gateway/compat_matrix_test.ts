// The compatibility matrix: real MCP servers from npm behind the gateway, each
// driven by a 2025 client (session) and a 2026-07-28 client (stateless). The
// servers run under Deno from the locked npm packages (`deno install` caches
// them), so the test never depends on an npm cache or the network.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { config, startNode } from "../testing/harness.ts";
import { startQuirksBackend } from "../testing/quirks_backend.ts";

const VERSION = "2026.8.31";

function npmServer(name: string, args: string[] = [], env?: Record<string, string>) {
  return {
    command: Deno.execPath(),
    args: ["run", "-A", `npm:@modelcontextprotocol/${name}@${VERSION}`, ...args],
    ...(env === undefined ? {} : { env }),
  };
}

type Check = (client: Client) => Promise<void>;

function text(result: unknown): string {
  return JSON.stringify((result as { content?: unknown }).content);
}

Deno.test({
  name:
    "compatibility matrix: server-memory, server-filesystem, server-sequential-thinking, SDK v2",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "compat-" });
    await Deno.writeTextFile(`${dir}/hello.txt`, "hello from the matrix");
    const sdk2 = await startQuirksBackend([]);
    const node = await startNode(config({
      memory: npmServer("server-memory", [], { MEMORY_FILE_PATH: `${dir}/memory.jsonl` }),
      fs: npmServer("server-filesystem", [dir]),
      think: npmServer("server-sequential-thinking"),
      sdk2: { url: sdk2.url },
    }, { connectTimeoutMs: 60_000 }));
    const checks: Record<string, (era: string) => Check> = {
      memory: (era) => async (c) => {
        await c.callTool({
          name: "memory__create_entities",
          arguments: { entities: [{ name: `e-${era}`, entityType: "test", observations: ["o"] }] },
        });
        const graph = await c.callTool({ name: "memory__read_graph", arguments: {} });
        assert.match(text(graph), new RegExp(`e-${era}`));
      },
      fs: () => async (c) => {
        const listed = await c.callTool({ name: "fs__list_directory", arguments: { path: dir } });
        assert.match(text(listed), /hello\.txt/);
        const read = await c.callTool({
          name: "fs__read_text_file",
          arguments: { path: `${dir}/hello.txt` },
        });
        assert.match(text(read), /hello from the matrix/);
      },
      think: () => async (c) => {
        const thought = await c.callTool({
          name: "think__sequentialthinking",
          arguments: {
            thought: "one",
            nextThoughtNeeded: false,
            thoughtNumber: 1,
            totalThoughts: 1,
          },
        });
        assert.match(text(thought), /thoughtNumber/);
      },
      sdk2: (era) => async (c) => {
        const echo = await c.callTool({ name: "sdk2__echo", arguments: { message: era } });
        assert.match(text(echo), new RegExp(`quirks: ${era}`));
        const prompt = await c.getPrompt({ name: "sdk2__test_simple_prompt", arguments: {} });
        assert.ok(prompt.messages.length > 0);
      },
    };
    const matrix: string[] = [];
    try {
      const states = (node.gateway.status().services as {
        name: string;
        replicas: { state: string; era: string }[];
      }[])
        .map((s) => `${s.name}: ${s.replicas[0].state} (${s.replicas[0].era})`);
      assert.ok(states.every((s) => s.includes("ready")), states.join(", "));
      for (const era of ["2025", "2026"]) {
        const client = new Client({ name: `matrix-${era}`, version: "1" }, {
          capabilities: {},
          ...(era === "2026" ? { versionNegotiation: { mode: "auto" as const } } : {}),
        });
        await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
        try {
          for (const [service, check] of Object.entries(checks)) {
            await t.step(`${service} with a ${era} client`, async () => {
              await check(era)(client);
              matrix.push(`${service} × ${era} client: ok`);
            });
          }
        } finally {
          await client.close();
        }
      }
      console.log(`${states.join("\n")}\n${matrix.join("\n")}`);
    } finally {
      await node.close();
      await sdk2.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
