// The protocol era per backend: "auto" prefers 2026-07-28 from a server that
// offers both, "2025" keeps to a 2025 session (for servers that ask for
// sampling or elicitation only by the 2025 push), "2026" pins the new era.
import assert from "node:assert/strict";
import { SeededRng } from "@safla/core";
import { ConfigError } from "@safla/core";
import { config, stdioBackend } from "../testing/harness.ts";
import { startQuirksBackend } from "../testing/quirks_backend.ts";
import { Gateway } from "./gateway.ts";

const ctx = { notify: () => Promise.resolve() };

Deno.test({
  name: "protocolEra: auto prefers 2026, 2025 keeps a 2025 session, 2026 pins; calls work in each",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const backend = await startQuirksBackend([]);
    const stdio = stdioBackend("s1") as { command: string; args: string[] };
    const gateway = new Gateway(
      config({
        auto: { url: backend.url },
        old: { url: backend.url, protocolEra: "2025" },
        new: { url: backend.url, protocolEra: "2026" },
        oldstdio: { command: stdio.command, args: stdio.args, protocolEra: "2025" },
      }),
      { nowMs: () => performance.now(), rng: new SeededRng(1) },
    );
    try {
      await gateway.start();
      const eras = Object.fromEntries(
        (gateway.status().services as { name: string; replicas: { era: string }[] }[])
          .map((s) => [s.name, s.replicas[0].era]),
      );
      assert.deepEqual(eras, { auto: "modern", old: "legacy", new: "modern", oldstdio: "legacy" });
      for (const service of ["auto", "old", "new", "oldstdio"]) {
        const echo = await gateway.callTool({
          name: `${service}__echo`,
          arguments: { message: service },
        }, ctx);
        assert.match(JSON.stringify(echo), new RegExp(`: ${service}`));
      }
    } finally {
      await gateway.close();
      await backend.close();
    }
  },
});

Deno.test("protocolEra: anything else is a config error naming the key", () => {
  assert.throws(
    () => config({ x: { url: "http://127.0.0.1:1/mcp", protocolEra: "2024" } }),
    (error: unknown) =>
      error instanceof ConfigError && /mcpServers\.x\.protocolEra/.test(error.message) &&
      /"auto", "2025", "2026"/.test(error.message),
  );
});
