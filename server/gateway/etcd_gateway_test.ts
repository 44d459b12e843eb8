// `safla serve --store etcd://...`: stateless gateway processes that share their
// registry through a real etcd cluster started by the test.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { startEtcdCluster } from "../store/etcd/etcd_process.ts";
import { stdioBackend, stdioReplicas } from "../testing/harness.ts";
import { waitFor } from "@safla/transports/host/testing";
import { IGNORE_WITHOUT_ETCD } from "../store/etcd/etcd_presence.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface ServeProcess {
  child: Deno.ChildProcess;
  url: string;
  stderr: string[];
}

async function serve(configPath: string, store: string): Promise<ServeProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "serve", "--config", configPath, "--port", "0", "--store", store],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = Date.now() + 30_000;
  let buffered = "";
  while (Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) break;
    buffered += value;
    stderr.push(value);
    const match = /listening on (http:\/\/[^ \n]+)\/mcp/.exec(buffered);
    if (match) {
      void (async () => {
        for (;;) {
          const next = await lines.read().catch(() => ({ done: true, value: undefined }));
          if (next.done) return;
          if (next.value !== undefined) stderr.push(next.value);
        }
      })();
      return { child, url: match[1], stderr };
    }
  }
  child.kill("SIGKILL");
  throw new Error(`gateway did not start:\n${stderr.join("")}`);
}

async function stop(process: ServeProcess): Promise<void> {
  try {
    process.child.kill("SIGTERM");
  } catch { /* already gone */ }
  await process.child.status;
}

Deno.test({
  name: "serve --store etcd://: a service registered on one gateway is served by another",
  ignore: IGNORE_WITHOUT_ETCD,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "safla-etcd-gateway-" });
    const etcd = await startEtcdCluster({ members: 1 });
    const gateways: ServeProcess[] = [];
    const clients: Client[] = [];
    try {
      const configPath = `${dir}/gateway.json`;
      await Deno.writeTextFile(
        configPath,
        JSON.stringify({
          mcpServers: { alpha: stdioReplicas("a0") },
          // No auth here: the anonymous client may register the test backend.
          management: {
            anonymousAdmin: true,
            registration: { commands: [{ command: Deno.execPath(), args: ["..."] }] },
          },
        }),
      );
      const store = `etcd://${etcd.endpoints.join(",")}`;
      gateways.push(await serve(configPath, store), await serve(configPath, store));
      for (const g of gateways) {
        const client = new Client({ name: "etcd-test", version: "1" });
        await client.connect(new StreamableHTTPClientTransport(new URL(`${g.url}/mcp`)));
        clients.push(client);
      }
      const [a, b] = clients;
      const spec = stdioBackend("shared");
      const server = spec.kind === "stdio" ? { command: spec.command, args: spec.args } : {};
      await a.callTool({ name: "safla__register_server", arguments: { name: "beta", server } });
      await waitFor("gateway B to serve beta", async () => {
        const names = (await b.listTools()).tools.map((t) => t.name);
        return names.includes("beta__whoami");
      }, 20_000);
      const who = await b.callTool({ name: "beta__whoami", arguments: {} });
      assert.deepEqual(who.content, [{ type: "text", text: "shared" }]);
      const stored = await fetch(`${etcd.clientUrls[0]}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: btoa("\0"), range_end: btoa("\0"), count_only: true }),
      }).then((r) => r.json());
      assert.ok(Number(stored.count) > 0, "the registration lives in etcd");
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      for (const g of gateways) await stop(g);
      await etcd.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("serve rejects a malformed --store with a message naming the problem", async () => {
  const dir = await Deno.makeTempDir({ prefix: "safla-etcd-gateway-" });
  try {
    const configPath = `${dir}/gateway.json`;
    await Deno.writeTextFile(
      configPath,
      JSON.stringify({ mcpServers: { alpha: stdioReplicas("a0") } }),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "serve", "--config", configPath, "--store", "etcd://"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(new TextDecoder().decode(out.stderr), /etcd:\/\//);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
