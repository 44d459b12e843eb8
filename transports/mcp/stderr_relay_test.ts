// A stdio child's stderr: relayed with the backend's label, and the npm
// failure left by an interrupted `npx` install named with its fix, once.
import assert from "node:assert/strict";
import { McpBackend } from "./backend.ts";
import { diagnoseStderrLine, relayStderr } from "./stderr_relay.ts";
import { waitFor } from "../host/testing.ts";

const ENOENT_LINE = "npm error enoent Could not read package.json: Error: ENOENT: no such " +
  "file or directory, open '/home/u/.npm/_npx/9b2c4f/node_modules/srv/package.json'";

Deno.test("diagnoseStderrLine names the broken npx cache entry and nothing else", () => {
  const diagnosis = diagnoseStderrLine(ENOENT_LINE);
  assert.match(diagnosis ?? "", /npx cache entry is broken/);
  assert.match(diagnosis ?? "", /delete \/home\/u\/\.npm\/_npx\/9b2c4f /);
  assert.equal(diagnoseStderrLine("Starting default (STDIO) server..."), undefined);
});

Deno.test("relayStderr prefixes lines, cuts long ones and survives a line without an end", async () => {
  const lines: string[] = [];
  const text = `one\r\ntwo\n${"x".repeat(10_000)}\nlast`;
  await relayStderr(
    new Blob([text]).stream(),
    { prefix: "[svc#0] ", write: (line) => lines.push(line) },
  );
  assert.deepEqual(lines.slice(0, 2), ["[svc#0] one", "[svc#0] two"]);
  assert.equal(lines[2].length, "[svc#0] ".length + 4_096);
  assert.equal(lines.at(-1), "[svc#0] last");
});

Deno.test({
  name: "a backend whose npx cache entry is broken says how to fix it, once, in its error",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const logged: string[] = [];
    const backend = new McpBackend({
      label: "npxsvc#0",
      spec: { kind: "stdio", command: "sh", args: ["-c", `echo "${ENOENT_LINE}" >&2; exit 1`] },
      requestTimeoutMs: 5_000,
      connectTimeoutMs: 5_000,
      initialBackoffMs: 20,
      maxBackoffMs: 50,
      eraCache: new Map(),
      log: (line) => logged.push(line),
    });
    try {
      await backend.start();
      await waitFor("two restarts", () => backend.restarts >= 2, 10_000);
      assert.match(backend.lastError?.message ?? "", /npx cache entry is broken/);
      assert.deepEqual(
        logged.filter((l) => l.includes("npx cache entry is broken")).length,
        1,
        logged.join("\n"),
      );
      assert.ok(logged.every((l) => l.startsWith("npxsvc#0: ")));
      // Each exit and each reconnect is a line of its own.
      assert.ok(logged.includes("npxsvc#0: the server exited with code 1"), logged.join("\n"));
      assert.ok(logged.some((l) => /; reconnecting in \d+ ms$/.test(l)), logged.join("\n"));
    } finally {
      await backend.close();
    }
  },
});
