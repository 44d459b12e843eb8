// The official MCP conformance suite (2025 line), run against a gateway node
// in front of our test backend. Every scenario must pass through the gateway.
// The suite is fetched from the npm registry by Deno (`--no-lock`: it is a
// test tool, not a dependency of the workspace).
import assert from "node:assert/strict";
import { config, startNode, stdioReplicas } from "./testing/harness.ts";

const SUITE = "npm:@modelcontextprotocol/conformance@0.1.16";

Deno.test({
  name: "conformance suite 0.1.16 passes through the gateway",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // Passthrough naming: the suite calls the backend's tools by their own names.
    const node = await startNode(config({ test: stdioReplicas("c1") }, { naming: "passthrough" }));
    const cwd = await Deno.makeTempDir();
    try {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-lock", SUITE, "server", "--url", `${node.url}/mcp`],
        cwd,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(150_000),
      }).output();
      const text = new TextDecoder().decode(output.stdout);
      const summary = text.slice(text.indexOf("=== SUMMARY ==="));
      const total = summary.match(/Total: (\d+) passed, (\d+) failed/);
      assert.ok(total, `no summary in suite output:\n${text.slice(-2000)}`);
      assert.equal(Number(total[2]), 0, summary);
      assert.ok(Number(total[1]) >= 40, summary);
      assert.ok(!/^✗/m.test(summary), summary);
    } finally {
      await node.close();
      await Deno.remove(cwd, { recursive: true });
    }
  },
});
