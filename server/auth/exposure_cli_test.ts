// `safla serve` refuses to listen beyond loopback without authentication, as
// a real process: exit code 2 and a one-line reason, before binding anything.
import assert from "node:assert/strict";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

Deno.test("serve on a non-loopback address without auth exits 2 with the reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const configPath = `${dir}/config.json`;
    await Deno.writeTextFile(configPath, JSON.stringify({ mcpServers: {} }));
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "serve",
        "--config",
        configPath,
        "--host",
        "0.0.0.0",
        "--port",
        "0",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.match(stderr, /refusing to serve MCP on 0\.0\.0\.0 without authentication/);
    assert.match(stderr, /--insecure-no-auth/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
