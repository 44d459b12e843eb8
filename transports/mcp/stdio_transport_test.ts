import assert from "node:assert/strict";
import { DenoStdioClientTransport } from "./stdio_transport.ts";

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
