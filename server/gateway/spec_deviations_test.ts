// Backends that bend the spec, behind the whole gateway (DESIGN.md §10): what
// can be understood is served, each deviation is logged once, and a malformed
// answer is the backend's error that leaves its service's other tools,
// resources and prompts working.
import assert from "node:assert/strict";
import { ProtocolError } from "@modelcontextprotocol/server";
import { SeededRng } from "@safla/core";
import { waitFor } from "@safla/transports/host/testing";
import { config } from "../testing/harness.ts";
import { type Quirk, startQuirksBackend } from "../testing/quirks_backend.ts";
import { Gateway } from "./gateway.ts";

const ctx = { notify: () => Promise.resolve() };

async function gatewayOver(quirks: Quirk[], gatewaySettings: Record<string, unknown> = {}) {
  const backend = await startQuirksBackend(quirks);
  const logged: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void logged.push(args.join(" "));
  const gateway = new Gateway(
    config({ q: { url: backend.url } }, { connectTimeoutMs: 5_000, ...gatewaySettings }),
    { nowMs: () => performance.now(), rng: new SeededRng(1) },
  );
  const startedMs = performance.now();
  try {
    await gateway.start();
  } finally {
    console.error = original;
  }
  return {
    gateway,
    logged,
    startMs: performance.now() - startedMs,
    close: async () => {
      await gateway.close();
      await backend.close();
    },
  };
}

function text(result: Record<string, unknown>): string {
  return (result.content as { text: string }[])[0].text;
}

Deno.test({
  name: "a 2026 backend whose results lack resultType is served, the deviation logged once",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { gateway, logged, close } = await gatewayOver(["no-result-type"]);
    try {
      assert.equal(gateway.readiness().ready, true);
      const original = console.error;
      console.error = (...args: unknown[]) => void logged.push(args.join(" "));
      try {
        for (let i = 0; i < 3; i++) {
          const echo = await gateway.callTool(
            { name: "q__echo", arguments: { message: "x" } },
            ctx,
          );
          assert.equal(text(echo), "quirks: x");
        }
      } finally {
        console.error = original;
      }
      assert.equal(
        logged.filter((l) => l.includes("missing-resultType")).length,
        1,
        logged.join("\n"),
      );
      const replica = (gateway.status().services as { replicas: { deviations: string[] }[] }[])[0]
        .replicas[0];
      assert.deepEqual(replica.deviations, ["missing-resultType"]);
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "a listen stream sent as NDJSON under application/json neither holds start-up nor loses changes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { gateway, logged, startMs, close } = await gatewayOver(["ndjson-listen"]);
    try {
      assert.ok(startMs < 2_500, `start-up took ${Math.round(startMs)} ms (connect timeout 5000)`);
      assert.ok(logged.some((l) => l.includes("ndjson-stream")), logged.join("\n"));
      // The list change arrives on that stream: the gateway must really read it.
      await gateway.callTool({ name: "q__test_trigger_tool_change", arguments: {} }, ctx);
      await waitFor(
        "the new tool",
        () => gateway.listTools().some((t) => t.name === "q__dynamic_0"),
        5_000,
      );
    } finally {
      await close();
    }
  },
});

Deno.test({
  name:
    "a malformed tool result is the backend's -32603, and its service's other parts keep working",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { gateway, close } = await gatewayOver(["malformed-tool"], {
      breakerConsecutiveFailures: 2,
    });
    try {
      for (let i = 0; i < 4; i++) {
        await assert.rejects(
          gateway.callTool({ name: "q__test_simple_text", arguments: {} }, ctx),
          (error: unknown) => {
            assert.ok(error instanceof ProtocolError, String(error));
            assert.equal(error.code, -32603);
            assert.match(error.message, /backend q#0 answered tools\/call with an invalid result/);
            assert.match(error.message, /content/);
            return true;
          },
        );
      }
      const echo = await gateway.callTool({ name: "q__echo", arguments: { message: "ok" } }, ctx);
      assert.equal(text(echo), "quirks: ok");
      const uri = String(gateway.listResources()[0].uri);
      const read = await gateway.readResource({ uri }, ctx);
      assert.ok(Array.isArray(read.contents));
      const got = await gateway.getPrompt({ name: "q__test_simple_prompt", arguments: {} }, ctx);
      assert.ok(Array.isArray(got.messages));
      assert.equal(gateway.healthy(), true);
    } finally {
      await close();
    }
  },
});
