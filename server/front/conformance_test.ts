// The official MCP conformance suites, run against a gateway node in front of
// our test backend: the 2025 line (0.1.16) and the 2026-07-28 requirements of
// the 0.2.0-alpha line. The suites are fetched from the npm registry by Deno
// (`--no-lock`: they are test tools, not dependencies of the workspace).
import assert from "node:assert/strict";
import { config, startNode, stdioReplicas } from "../testing/harness.ts";
import type { GatewayInstance } from "../instance.ts";

const SUITE_2025 = "npm:@modelcontextprotocol/conformance@0.1.16";
const SUITE_2026 = "npm:@modelcontextprotocol/conformance@0.2.0-alpha.12";

/**
 * Checks the test backend cannot pass directly either: McpServer reports an
 * error thrown by a tool as an `isError` result, never as the -32021 JSON-RPC
 * error these checks want.
 */
const BACKEND_LIMITS = new Set([
  "sep-2575-server-rejects-undeclared-capability",
  "sep-2575-missing-capability-http-400",
]);

interface Run {
  summary: string;
  outputDir: string;
}

async function runSuite(node: GatewayInstance, suite: string, extra: string[]): Promise<Run> {
  const cwd = await Deno.makeTempDir();
  const outputDir = `${cwd}/results`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-lock",
      suite,
      "server",
      "--url",
      `${node.url}/mcp`,
      "-o",
      outputDir,
      ...extra,
    ],
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(150_000),
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const at = text.indexOf("=== SUMMARY ===");
  assert.ok(at >= 0, `no summary in suite output:\n${text.slice(-2000)}`);
  return { summary: text.slice(at), outputDir };
}

function failedScenarios(summary: string): string[] {
  const scored = summary.split("Not scored")[0];
  return [...scored.matchAll(/^✗ ([\w-]+):/gm)].map((m) => m[1]);
}

function notScored(summary: string): Set<string> {
  const tail = summary.split("Not scored")[1] ?? "";
  return new Set([...tail.matchAll(/^\s+[✗✓] ([\w-]+) \(/gm)].map((m) => m[1]));
}

async function failingChecks(outputDir: string, scenario: string): Promise<string[]> {
  const failing: string[] = [];
  for await (const entry of Deno.readDir(outputDir)) {
    if (!entry.name.includes(scenario)) continue;
    const checks = JSON.parse(await Deno.readTextFile(`${outputDir}/${entry.name}/checks.json`));
    for (const c of checks as { id: string; status: string }[]) {
      if (c.status === "FAILURE") failing.push(c.id);
    }
  }
  return failing;
}

Deno.test({
  name: "conformance suites pass through the gateway",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    // Passthrough naming: the suites call the backend's tools by their own names.
    const node = await startNode(config({ test: stdioReplicas("c1") }, { naming: "passthrough" }));
    const dirs: string[] = [];
    try {
      await t.step("2025 line (0.1.16): every scenario passes", async () => {
        const run = await runSuite(node, SUITE_2025, []);
        dirs.push(run.outputDir);
        const total = run.summary.match(/Total: (\d+) passed, (\d+) failed/);
        assert.ok(total, run.summary);
        assert.equal(Number(total[2]), 0, run.summary);
        // 39, not 40: single requests answered with a lone result come back as
        // JSON (server/json_reply.ts), which makes "server-sse-streams-functional"
        // an INFO check ("SSE streams optional") instead of a counted pass.
        assert.ok(Number(total[1]) >= 39, run.summary);
      });

      await t.step(
        "2026-07-28 requirements (0.2.0-alpha.12): every scored scenario passes",
        async () => {
          const run = await runSuite(node, SUITE_2026, ["--requirements", "2026-07-28"]);
          dirs.push(run.outputDir);
          const unscored = notScored(run.summary);
          for (const scenario of failedScenarios(run.summary)) {
            if (unscored.has(scenario)) continue;
            const failing = await failingChecks(run.outputDir, scenario);
            const unexpected = failing.filter((id) => !BACKEND_LIMITS.has(id));
            assert.deepEqual(unexpected, [], `${scenario} failed:\n${run.summary}`);
          }
        },
      );
    } finally {
      await node.close();
      for (const dir of dirs) await Deno.remove(`${dir}/..`, { recursive: true });
    }
  },
});
