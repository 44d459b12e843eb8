// A stdio server that prints banners and logs on stdout and sends
// notifications before `initialized`: served, each deviation logged once.
import assert from "node:assert/strict";
import { SeededRng } from "@safla/core";
import { config } from "../testing/harness.ts";
import { Gateway } from "./gateway.ts";

const QUIRKS_MAIN = new URL("../testing/stdio_quirks_main.ts", import.meta.url).pathname;

Deno.test({
  name: "a stdio server with logs on stdout and early notifications is served, logged once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const logged: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args.join(" "));
    const gateway = new Gateway(
      config({
        q: { command: Deno.execPath(), args: ["run", "-A", QUIRKS_MAIN], protocolEra: "2025" },
      }),
      { nowMs: () => performance.now(), rng: new SeededRng(1) },
    );
    try {
      await gateway.start();
      for (let i = 0; i < 2; i++) {
        const echo = await gateway.callTool({ name: "q__echo", arguments: { message: "x" } }, {
          notify: () => Promise.resolve(),
        });
        assert.match(JSON.stringify(echo), /stdio-quirks: x/);
      }
      const replica =
        (gateway.status().services as { replicas: { state: string; restarts: number }[] }[])[0]
          .replicas[0];
      assert.deepEqual([replica.state, replica.restarts], ["ready", 0]);
      const stdoutNotes = logged.filter((l) => l.includes("stdout-not-json"));
      assert.equal(stdoutNotes.length, 1, logged.join("\n"));
      assert.match(stdoutNotes[0], /^q#0: deviates from the MCP spec/);
    } finally {
      console.error = original;
      await gateway.close();
    }
  },
});
