// A real `npx` server from a cold npm cache: its install takes longer than the
// connect timeout, and the backend waits it out within its start budget instead
// of killing npx mid-install (which leaves a cache entry every later start
// trips over). The cache is a fresh directory, so the result never depends on
// what this machine installed before.
import assert from "node:assert/strict";
import { McpBackend } from "./backend.ts";

const PACKAGE = "@modelcontextprotocol/server-everything@2026.8.31";

function hasNpx(): boolean {
  try {
    return new Deno.Command("npx", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "npx from a cold cache: one start, never killed while it installs",
  ignore: !hasNpx(),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "npx-cold-" });
    const log = `${dir}/starts`;
    const logged: string[] = [];
    const backend = new McpBackend({
      label: "everything#0",
      spec: {
        kind: "stdio",
        command: "sh",
        args: ["-c", `echo start >> '${log}'; exec npx -y ${PACKAGE}`],
        env: { npm_config_cache: `${dir}/npm-cache`, npm_config_update_notifier: "false" },
      },
      requestTimeoutMs: 10_000,
      // Far below a cold install (16 s measured here): only the start budget lets it finish.
      connectTimeoutMs: 2_000,
      startTimeoutMs: 180_000,
      initialBackoffMs: 100,
      maxBackoffMs: 1_000,
      eraCache: new Map(),
      log: (line) => logged.push(line),
    });
    try {
      const startedMs = performance.now();
      await backend.start();
      const tookMs = Math.round(performance.now() - startedMs);
      assert.equal(backend.state, "ready", `${backend.lastError?.message}; ${logged.join("\n")}`);
      assert.ok(backend.catalog!.tools.some((t) => t.name === "echo"));
      assert.equal(backend.restarts, 0);
      const starts = (await Deno.readTextFile(log)).trim().split("\n").length;
      assert.equal(starts, 1, `one npx start (cold start took ${tookMs} ms)`);
      console.log(`cold npx start of ${PACKAGE}: ${tookMs} ms`);
      const echo = await backend.request("tools/call", {
        name: "echo",
        arguments: { message: "cold" },
      });
      assert.match(JSON.stringify(echo), /cold/);
    } finally {
      await backend.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
