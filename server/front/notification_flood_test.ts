// Issue 11: a backend flooding notifications to 100 listening sessions froze a
// node for more than 24 s at 2.3 GiB RSS. The gateway runs as its own process
// (so its RSS is its own); 100 sessions hold their notification stream open
// and read nothing while the backend sends log lines tied to no call (each
// one fans out to every session). Checked: another client's calls answer in
// bounded time throughout, and the node's RSS stays bounded.
import assert from "node:assert/strict";
import { freeLoopbackPort, spawnGroup } from "../bench/gateway_process.ts";
import { stdioBackend } from "../testing/harness.ts";

const SESSIONS = 100;
const FLOOD_LINES = 2_000;
const LINE_BYTES = 20_000;
const MAIN = new URL("../main.ts", import.meta.url).pathname;

function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2025-11-25",
};

async function rpc(url: string, body: unknown, sessionId?: string) {
  const res = await fetch(url, {
    method: "POST",
    headers: { ...HEADERS, ...(sessionId ? { "mcp-session-id": sessionId } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, sessionId: res.headers.get("mcp-session-id") ?? sessionId, text };
}

async function openSession(url: string): Promise<string> {
  const init = await rpc(url, {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "f", version: "1" },
    },
  });
  assert.equal(init.status, 200, init.text);
  await rpc(url, { jsonrpc: "2.0", method: "notifications/initialized" }, init.sessionId!);
  return init.sessionId!;
}

Deno.test({
  name:
    "a backend flooding 100 listening sessions that read nothing: calls still answer, RSS stays bounded",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "notification-flood-" });
  const configFile = `${dir}/config.json`;
  const flooder = stdioBackend("r1") as { command: string; args: string[] };
  const calm = stdioBackend("r2") as { command: string; args: string[] };
  // The other client calls another backend: the flooder's own pipe is busy with its flood.
  await Deno.writeTextFile(
    configFile,
    JSON.stringify({
      mcpServers: {
        flood: { command: flooder.command, args: flooder.args },
        calm: { command: calm.command, args: calm.args },
      },
    }),
  );
  const port = freeLoopbackPort();
  const gateway = spawnGroup(Deno.execPath(), [
    "run",
    "-A",
    MAIN,
    "serve",
    "--config",
    configFile,
    "--port",
    String(port),
  ]);
  const url = `http://127.0.0.1:${port}/mcp`;
  const streams: Deno.TcpConn[] = [];
  try {
    const deadline = Date.now() + 60_000;
    let control: string | undefined;
    while (control === undefined) {
      assert.ok(Date.now() < deadline, `gateway did not come up:\n${gateway.outputTail()}`);
      try {
        const id = await openSession(url);
        const list = await rpc(url, { jsonrpc: "2.0", id: 2, method: "tools/list" }, id);
        if (list.text.includes("flood__test_flood_logs") && list.text.includes("calm__echo")) {
          control = id;
        }
      } catch {
        // Not listening yet.
      }
      if (control === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    for (let i = 0; i < SESSIONS; i++) {
      const id = await openSession(url);
      // A raw socket that asks for the stream and never reads a byte of it.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(new TextEncoder().encode(
        `GET /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\naccept: text/event-stream\r\n` +
          `mcp-session-id: ${id}\r\nmcp-protocol-version: 2025-11-25\r\n\r\n`,
      ));
      streams.push(conn);
    }
    const call = async (id: number) => {
      const started = performance.now();
      const r = await rpc(url, {
        jsonrpc: "2.0",
        id,
        method: "tools/call",
        params: { name: "calm__echo", arguments: { message: `m${id}` } },
      }, control);
      assert.equal(r.status, 200, r.text);
      assert.match(r.text, new RegExp(`m${id}`));
      return performance.now() - started;
    };
    await call(3);
    const baselineRss = rssBytes(gateway.pid);

    const flood = await rpc(url, {
      jsonrpc: "2.0",
      id: 4,
      method: "tools/call",
      params: {
        name: "flood__test_flood_logs",
        arguments: { count: FLOOD_LINES, bytes: LINE_BYTES },
      },
    }, control);
    assert.match(flood.text, /flooding/);
    let worstCallMs = 0;
    let peakRss = baselineRss;
    for (let i = 0; i < 40; i++) {
      await new Promise((r) => setTimeout(r, 250));
      worstCallMs = Math.max(worstCallMs, await call(10 + i));
      peakRss = Math.max(peakRss, rssBytes(gateway.pid));
    }
    const grownMiB = (peakRss - baselineRss) / 2 ** 20;
    console.log(
      `flood of ${FLOOD_LINES} x ${LINE_BYTES} B to ${SESSIONS} sessions: ` +
        `worst call ${worstCallMs.toFixed(0)} ms, RSS grew ${grownMiB.toFixed(0)} MiB`,
    );
    // Loose: a loaded 2-core machine answers in ~1.5 s either way; the freeze of the
    // issue came with GiBs of backlog, which the next bound is about.
    assert.ok(worstCallMs < 5_000, `a call took ${worstCallMs.toFixed(0)} ms during the flood`);
    // Measured over these 10 s: unbounded 735 MiB and growing (~57 lines/s x 20 kB x 100
    // sessions), bounded 181 MiB, with no session listening 74 MiB (decoding the flood).
    assert.ok(grownMiB < 300, `RSS grew ${grownMiB.toFixed(0)} MiB`);
  } finally {
    for (const conn of streams) conn.close();
    await gateway.close();
    await Deno.remove(dir, { recursive: true });
  }
});
