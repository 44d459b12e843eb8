import assert from "node:assert/strict";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { PEER_PORT_OFFSET } from "./cluster_args.ts";

const LAUNCHER = new URL("./launcher.ts", import.meta.url).pathname;

interface ProcessRow {
  pid: number;
  ppid: number;
  args: string;
}

/** Running processes, read from /proc (Linux), so the test needs no `ps` binary. */
async function processes(): Promise<ProcessRow[]> {
  const rows: ProcessRow[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      // The command name is in parentheses and may contain spaces: fields resume after the last ")".
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const args = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).split("\0").join(" ");
      rows.push({ pid: Number(entry.name), ppid, args });
    } catch { /* the process ended while we looked */ }
  }
  return rows;
}

/** Node processes (their arguments name the data dir) and the backends they spawned. */
async function clusterProcesses(dataDir: string): Promise<number[]> {
  const rows = await processes();
  const nodes = rows.filter((r) => r.args.includes(dataDir)).map((r) => r.pid);
  const children = rows.filter((r) => nodes.includes(r.ppid)).map((r) => r.pid);
  return [...nodes, ...children];
}

/** A base port whose HTTP and Raft ports for `count` nodes are all free right now. */
function freeBasePort(count: number): number {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = freePort();
    if (base + count + PEER_PORT_OFFSET > 65535) continue;
    try {
      const listeners = [];
      for (let i = 0; i < count; i++) {
        listeners.push(Deno.listen({ hostname: "127.0.0.1", port: base + i }));
        listeners.push(Deno.listen({ hostname: "127.0.0.1", port: base + i + PEER_PORT_OFFSET }));
      }
      for (const l of listeners) l.close();
      return base;
    } catch {
      continue;
    }
  }
  throw new Error("no free port range found");
}

Deno.test("launcher: starts 3 node processes with the demo backend, prints endpoints, stops them all on SIGTERM", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "launcher-" });
  const base = freeBasePort(3);
  const launcher = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", LAUNCHER, "--port", String(base), "--data", dataDir],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let output = "";
  const reading = (async () => {
    for await (const chunk of launcher.stdout.pipeThrough(new TextDecoderStream())) output += chunk;
  })();
  try {
    await waitFor(
      "the launcher to print the endpoints",
      () => output.includes("Ctrl-C"),
      60_000,
      100,
    );
    for (let i = 0; i < 3; i++) {
      assert.ok(output.includes(`n${i + 1}  MCP http://127.0.0.1:${base + i}/mcp`), output);
    }
    assert.match(output, /leader n\d/);
    // The launcher prints the admin token the admin API asks for.
    const token = /SAFLA_ADMIN_TOKEN=(\S+)/.exec(output)?.[1];
    assert.ok(token, output);
    const auth = { authorization: `Bearer ${token}` };
    // The MCP endpoint of a node fronts the demo backend.
    const init = await fetch(`http://127.0.0.1:${base + 1}/mcp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "t", version: "1" },
        },
      }),
    });
    assert.equal(init.status, 200);
    assert.match(await init.text(), /safla-gateway/);
    // The demo backend's tools show in the node's registry once it connected.
    await waitFor(
      "the demo backend's tools",
      async () => {
        const response = await fetch(`http://127.0.0.1:${base}/admin/registry`, { headers: auth });
        return ((await response.json()) as { tools: string[] }).tools.length > 0;
      },
      20_000,
      100,
    );
    const put = await fetch(`http://127.0.0.1:${base + 2}/admin/kv/demo`, {
      method: "PUT",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ value: "ok" }),
    });
    assert.equal(put.status, 200, await put.text());
    const pids = await clusterProcesses(dataDir);
    // Three nodes, each with its demo backend.
    assert.ok(pids.length >= 6, `found ${pids.length} processes`);
    launcher.kill("SIGTERM");
    assert.equal((await launcher.status).code, 0);
    await waitFor(
      "every node and backend process to be gone",
      async () => {
        const alive = new Set((await processes()).map((r) => r.pid));
        return pids.every((pid) => !alive.has(pid));
      },
      10_000,
      100,
    );
  } finally {
    try {
      launcher.kill("SIGKILL");
    } catch { /* already exited */ }
    await launcher.status;
    await reading.catch(() => {});
    await Deno.remove(dataDir, { recursive: true });
  }
});
