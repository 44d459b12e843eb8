// `safla serve` as a real process: it refuses to listen beyond loopback
// without authentication (exit code 2 and a one-line reason, before binding
// anything), and with `auth` in its config it answers 401 without a key and
// serves the caller that sends one.
import assert from "node:assert/strict";
import { generateApiKey } from "./api_keys.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const NODE_MAIN = new URL("../cluster/node_main.ts", import.meta.url).pathname;
/**
 * A non-loopback address no machine has (TEST-NET-1, RFC 5737): should the
 * check ever let a node through, its bind fails instead of exposing it.
 */
const UNASSIGNED = "192.0.2.1";

/** Runs a CLI to its end (bounded), with a config without auth. */
async function refusedRun(args: (configPath: string, dir: string) => string[]) {
  const dir = await Deno.makeTempDir();
  try {
    const configPath = `${dir}/config.json`;
    await Deno.writeTextFile(configPath, JSON.stringify({ mcpServers: {} }));
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...args(configPath, dir)],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("serve on a non-loopback address without auth exits 2 with the reason", async () => {
  const { code, stderr } = await refusedRun((config) => [
    MAIN,
    "serve",
    "--config",
    config,
    "--host",
    UNASSIGNED,
    "--port",
    "0",
  ]);
  assert.equal(code, 2, stderr);
  assert.match(stderr, /refusing to serve MCP on 192\.0\.2\.1 without authentication/);
  assert.match(stderr, /--insecure-no-auth/);
});

Deno.test("a cluster node on a non-loopback address without auth exits 2 with the reason", async () => {
  const { code, stderr } = await refusedRun((config, dir) => [
    NODE_MAIN,
    "--node-id",
    "n1",
    "--peers",
    `n1=${UNASSIGNED}:18080`,
    "--secret",
    "s".repeat(32),
    "--data",
    dir,
    "--config",
    config,
  ]);
  assert.equal(code, 2, stderr);
  assert.match(stderr, /refusing to serve MCP on 192\.0\.2\.1 without authentication/);
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
