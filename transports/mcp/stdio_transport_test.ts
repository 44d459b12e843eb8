import assert from "node:assert/strict";
import { DenoStdioClientTransport, inheritedEnv } from "./stdio_transport.ts";

Deno.test({
  name: "stdio transport: lines in, lines out, banners reported, stubborn children killed",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await t.step("echoes JSON lines and reports a non-JSON banner line", async () => {
      // `cat` after a banner: every line we send comes back.
      const transport = new DenoStdioClientTransport({
        command: "sh",
        args: ["-c", "echo 'starting up...'; exec cat"],
      });
      const received: unknown[] = [];
      const errors: string[] = [];
      transport.onmessage = (m) => received.push(m);
      transport.onerror = (e) => errors.push(e.message);
      let closed = 0;
      transport.onclose = () => closed++;
      await transport.start();
      await Promise.all([
        transport.send({ jsonrpc: "2.0", id: 1, method: "ping" }),
        transport.send({ jsonrpc: "2.0", method: "notifications/initialized" }),
      ]);
      const deadline = Date.now() + 5_000;
      while (received.length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(received, [
        { jsonrpc: "2.0", id: 1, method: "ping" },
        { jsonrpc: "2.0", method: "notifications/initialized" },
      ]);
      assert.ok(errors.some((e) => e.includes("starting up")));
      await transport.close();
      assert.equal(closed, 1);
      await assert.rejects(transport.send({ jsonrpc: "2.0", id: 2, method: "ping" }));
    });

    await t.step("lines split across reads and multi-byte text arrive whole", async () => {
      // The child writes one long line in small pieces, a multi-byte character cut in two.
      const line = JSON.stringify({ jsonrpc: "2.0", method: "x", params: { t: "é".repeat(5000) } });
      const bytes = new TextEncoder().encode(line + "\r\n");
      const pieces = [bytes.subarray(0, 7), bytes.subarray(7, 5001), bytes.subarray(5001)];
      const script = pieces
        .map((p) => `printf '${[...p].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("")}'`)
        .join("; sleep 0.05; ");
      const transport = new DenoStdioClientTransport({ command: "sh", args: ["-c", script] });
      const received: unknown[] = [];
      transport.onmessage = (m) => received.push(m);
      await transport.start();
      const deadline = Date.now() + 5_000;
      while (received.length < 1 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(received, [JSON.parse(line)]);
      await transport.close();
    });

    await t.step("many requests written in one turn and across turns arrive in order", async () => {
      const transport = new DenoStdioClientTransport({ command: "cat", args: [] });
      const received: { id?: number; method?: string }[] = [];
      transport.onmessage = (m) => received.push(m as { id?: number; method?: string });
      await transport.start();
      const sends: Promise<void>[] = [];
      for (let id = 1; id <= 50; id++) {
        sends.push(transport.send({ jsonrpc: "2.0", id, method: "ping" }));
        if (id % 10 === 0) await new Promise((r) => setTimeout(r, 0));
      }
      sends.push(
        transport.send({
          jsonrpc: "2.0",
          method: "notifications/cancelled",
          params: { requestId: 1 },
        }),
      );
      await Promise.all(sends);
      const deadline = Date.now() + 5_000;
      while (received.length < 51 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(
        received.map((m) => m.id ?? m.method),
        [...Array.from({ length: 50 }, (_, i) => i + 1), "notifications/cancelled"],
      );
      await transport.close();
    });

    await t.step("a child that ignores stdin close and SIGTERM is killed", async () => {
      const transport = new DenoStdioClientTransport({
        command: "sh",
        args: ["-c", "trap '' TERM; while true; do sleep 1; done"],
      });
      await transport.start();
      const pid = transport.pid!;
      const startedMs = Date.now();
      await transport.close();
      assert.ok(Date.now() - startedMs < 10_000);
      assert.throws(() => Deno.kill(pid, "SIGCONT"), "the child is gone");
    });
  },
});

/** Whether a process runs (a zombie, which holds nothing but its pid, does not). */
function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return false;
  }
}

/**
 * A stdio "server" that starts grandchildren (one ignores SIGTERM, as a
 * careless wrapper's child might), reports their pids as a JSON line, then
 * runs `then` in its place.
 */
async function withGrandchildren(then: string) {
  const transport = new DenoStdioClientTransport({
    command: "sh",
    args: [
      "-c",
      `sleep 300 & a=$!; (trap '' TERM; exec sleep 301) & b=$!; ` +
      `echo "{\\"jsonrpc\\":\\"2.0\\",\\"method\\":\\"pids\\",\\"params\\":{\\"pids\\":[$a,$b]}}"; ${then}`,
    ],
  });
  const pids = Promise.withResolvers<number[]>();
  transport.onmessage = (m) =>
    pids.resolve((m as unknown as { params: { pids: number[] } }).params.pids);
  let closed = false;
  transport.onclose = () => closed = true;
  await transport.start();
  const grandchildren = await pids.promise;
  assert.ok(grandchildren.every(running), "the grandchildren started");
  return { transport, grandchildren, closed: () => closed };
}

async function until(what: string, condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "stdio transport: the child's whole process group ends with it",
  ignore: Deno.build.os !== "linux",
  fn: async (t) => {
    await t.step("on close, a grandchild that ignores SIGTERM included", async () => {
      // `cat` exits as soon as its stdin closes; its shell's background jobs would stay.
      const { transport, grandchildren } = await withGrandchildren("exec cat");
      try {
        await transport.close();
        const survivors = grandchildren.filter(running);
        assert.deepEqual(survivors, [], "processes of the group outlived close()");
      } finally {
        for (const pid of grandchildren) if (running(pid)) Deno.kill(pid, "SIGKILL");
      }
    });

    await t.step("when the child exits by itself (before a reconnect)", async () => {
      const { transport, grandchildren, closed } = await withGrandchildren("exit 3");
      try {
        await until("the transport to close", closed, 5_000);
        await until("the grandchildren to end", () => !grandchildren.some(running), 5_000);
        await transport.close();
      } finally {
        for (const pid of grandchildren) if (running(pid)) Deno.kill(pid, "SIGKILL");
      }
    });
  },
});

Deno.test("stdio transport: a backend inherits the cache, proxy and CA settings, not the node's other environment", () => {
  const node: Record<string, string> = {
    PATH: "/usr/bin",
    DENO_DIR: "/cache/deno",
    XDG_CACHE_HOME: "/cache",
    npm_config_cache: "/cache/npm",
    HTTPS_PROXY: "http://proxy:3128",
    NODE_EXTRA_CA_CERTS: "/etc/ssl/corp.pem",
    SAFLA_CLUSTER_SECRET: "secret",
    AWS_SECRET_ACCESS_KEY: "secret",
  };
  assert.deepEqual(inheritedEnv((name) => node[name]), {
    PATH: "/usr/bin",
    DENO_DIR: "/cache/deno",
    XDG_CACHE_HOME: "/cache",
    npm_config_cache: "/cache/npm",
    HTTPS_PROXY: "http://proxy:3128",
    NODE_EXTRA_CA_CERTS: "/etc/ssl/corp.pem",
  });
});
