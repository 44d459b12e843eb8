// `safla serve` as a real process: it refuses to listen beyond loopback
// without authentication (exit code 2 and a one-line reason, before binding
// anything), and with `auth` in its config it answers 401 without a key and
// serves the caller that sends one.
import assert from "node:assert/strict";
import { generateApiKey } from "./api_keys.ts";

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

Deno.test("serve with API keys in its config: 401 without the key, a session with it", async () => {
  const dir = await Deno.makeTempDir();
  const { key, hash } = generateApiKey();
  const configPath = `${dir}/config.json`;
  await Deno.writeTextFile(
    configPath,
    JSON.stringify({ mcpServers: {}, auth: { apiKeys: [{ hash, subject: "ci", scopes: [] }] } }),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "serve",
      "--config",
      configPath,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    let seen = "";
    let url: string | undefined;
    while (url === undefined) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`serve exited before listening: ${seen}`);
      seen += value;
      url = seen.match(/listening on (http:\/\/\S+\/mcp)/)?.[1];
    }
    const initialize = (headers: Record<string, string>) =>
      fetch(url!, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...headers,
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-11-25",
            capabilities: {},
            clientInfo: { name: "t", version: "1" },
          },
        }),
      });
    const refused = await initialize({});
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("www-authenticate"), "Bearer");
    await refused.body?.cancel();
    const accepted = await initialize({ authorization: `Bearer ${key}` });
    assert.equal(accepted.status, 200);
    assert.ok(accepted.headers.get("mcp-session-id"));
    await accepted.body?.cancel();
  } finally {
    clearTimeout(deadline);
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await reader.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
