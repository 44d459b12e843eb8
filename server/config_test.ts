import assert from "node:assert/strict";
import { type Config, validateConfig } from "@safla/core/raft";
import { ConfigError, DEFAULT_SETTINGS, loadConfig, parseConfig } from "./config.ts";

function problem(json: unknown): ConfigError {
  try {
    parseConfig(json, "gw.json");
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail("expected a ConfigError");
}

Deno.test("config: the mcpServers shape with our fields", async (t) => {
  await t.step("stdio and HTTP servers, replicas by count and by list, settings", () => {
    const config = parseConfig({
      mcpServers: {
        fs: {
          command: "node",
          args: ["fs.js"],
          env: { A: "1" },
          replicas: 3,
          strategy: "round-robin",
        },
        web: {
          url: "https://example.com/mcp",
          headers: { authorization: "Bearer x" },
          timeoutMs: 5000,
        },
        old: { url: "http://localhost:9000/sse" },
        mixed: { replicas: [{ command: "a" }, { url: "http://localhost:1/mcp", type: "http" }] },
        off: { command: "x", disabled: true },
      },
      gateway: { separator: ".", naming: "passthrough", strategy: "least-outstanding" },
    });
    assert.deepEqual(config.services.map((s) => s.name), ["fs", "web", "old", "mixed"]);
    const [fs, web, old, mixed] = config.services;
    assert.equal(fs.replicas.length, 3);
    assert.deepEqual(fs.replicas[0], {
      kind: "stdio",
      command: "node",
      args: ["fs.js"],
      env: { A: "1" },
      cwd: undefined,
    });
    assert.equal(fs.strategy, "round-robin");
    assert.equal(web.strategy, "least-outstanding");
    assert.equal(web.requestTimeoutMs, 5000);
    assert.deepEqual(web.replicas[0], {
      kind: "streamable-http",
      url: "https://example.com/mcp",
      headers: { authorization: "Bearer x" },
    });
    assert.equal(old.replicas[0].kind, "sse");
    assert.deepEqual(mixed.replicas.map((r) => r.kind), ["stdio", "streamable-http"]);
    assert.equal(config.settings.separator, ".");
    assert.equal(config.settings.naming, "passthrough");
    assert.equal(config.settings.requestTimeoutMs, DEFAULT_SETTINGS.requestTimeoutMs);
  });

  await t.step("breaker tuning and the session limit: defaults, and set from the file", () => {
    assert.deepEqual(
      [DEFAULT_SETTINGS.breakerConsecutiveFailures, DEFAULT_SETTINGS.breakerOpenDurationMs],
      [3, 5_000],
    );
    assert.equal(DEFAULT_SETTINGS.maxSessions, 10_000);
    const { settings } = parseConfig({
      mcpServers: {},
      gateway: { breakerConsecutiveFailures: 7, breakerOpenDurationMs: 250, maxSessions: 12 },
    });
    assert.equal(settings.breakerConsecutiveFailures, 7);
    assert.equal(settings.breakerOpenDurationMs, 250);
    assert.equal(settings.maxSessions, 12);
  });

  await t.step("errors name the file, the key and the problem", () => {
    const cases: [unknown, string, RegExp][] = [
      [[], "(root)", /JSON object/],
      [{ servers: {} }, "servers", /unknown top-level key/],
      [{ mcpServers: { a: {} } }, "mcpServers.a", /exactly one of "command".*or "url"/],
      [{ mcpServers: { a: { command: "x", url: "http://h" } } }, "mcpServers.a", /exactly one/],
      [{ mcpServers: { a: { url: "not a url" } } }, "mcpServers.a.url", /not a valid URL/],
      [{ mcpServers: { a: { url: "ftp://h/x" } } }, "mcpServers.a.url", /http: or https:/],
      [{ mcpServers: { a: { command: "x", args: [1] } } }, "mcpServers.a.args", /array of strings/],
      [{ mcpServers: { a: { command: "x", replicas: 0 } } }, "mcpServers.a.replicas", /1 to 64/],
      [
        { mcpServers: { a: { command: "x", strategy: "random" } } },
        "mcpServers.a.strategy",
        /round-robin/,
      ],
      [{ mcpServers: { a: { command: "x", colour: 1 } } }, "mcpServers.a.colour", /unknown key/],
      [{ mcpServers: { safla: { command: "x" } } }, "mcpServers.safla", /reserved/],
      [{ mcpServers: { "a b": { command: "x" } } }, "mcpServers.a b", /service name/],
      [{ mcpServers: {}, gateway: { separator: "" } }, "gateway.separator", /1-8 characters/],
      [{ mcpServers: {}, gateway: { listPageSize: 0 } }, "gateway.listPageSize", /1 to 10000/],
      [{ mcpServers: {}, gateway: { maxSessions: 0 } }, "gateway.maxSessions", /from 1 to/],
      [
        { mcpServers: {}, gateway: { breakerConsecutiveFailures: 1.5 } },
        "gateway.breakerConsecutiveFailures",
        /integer from 1 to 1000/,
      ],
      [
        { mcpServers: {}, gateway: { maxToolNameLength: 3 } },
        "gateway.maxToolNameLength",
        /integer from 16/,
      ],
      [{ mcpServers: {}, gateway: { timeoutz: 3 } }, "gateway.timeoutz", /unknown setting/],
    ];
    for (const [json, key, pattern] of cases) {
      const error = problem(json);
      assert.equal(error.source, "gw.json");
      assert.equal(error.field, key, JSON.stringify(json));
      assert.match(error.problem, pattern);
      assert.ok(error.message.startsWith(`gw.json: ${key}: `));
    }
  });

  await t.step("loadConfig reports unreadable files and bad JSON with the path", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const missing = `${dir}/missing.json`;
      await assert.rejects(
        loadConfig(missing),
        (e: unknown) =>
          e instanceof ConfigError && e.source === missing && /cannot read/.test(e.problem),
      );
      const bad = `${dir}/bad.json`;
      await Deno.writeTextFile(bad, "{ nope");
      await assert.rejects(
        loadConfig(bad),
        (e: unknown) =>
          e instanceof ConfigError && e.source === bad && /not valid JSON/.test(e.problem),
      );
      const good = `${dir}/good.json`;
      await Deno.writeTextFile(good, JSON.stringify({ mcpServers: { a: { command: "x" } } }));
      assert.equal((await loadConfig(good)).services[0].name, "a");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("config: the example configuration in server/ is valid", async () => {
  const file = new URL("./example.config.json", import.meta.url).pathname;
  const config = await loadConfig(file);
  assert.deepEqual(config.services.map((s) => s.name), ["everything"]);
  assert.equal(config.services[0].replicas.length, 2);
});

Deno.test("config: one ConfigError for the gateway's file and a Raft node's settings", () => {
  const errors = [
    problem({ mcpServers: {}, gateway: { timeoutz: 3 } }),
    (() => {
      try {
        validateConfig({ id: "", electionTicks: 10, heartbeatTicks: 1 } as Config);
      } catch (error) {
        return error;
      }
    })(),
  ];
  assert.ok(errors.every((e) => e instanceof ConfigError), String(errors));
  assert.equal((errors[1] as ConfigError).message, "raft config: id: must be a non-empty string");
});

Deno.test("quotas are validated and name the entry and field at fault", () => {
  const config = parseConfig({
    mcpServers: {},
    gateway: { quotas: [{ service: "s", tool: "t", ratePerSec: 2, burst: 5 }] },
  });
  assert.deepEqual(config.settings.quotas, [{ service: "s", tool: "t", ratePerSec: 2, burst: 5 }]);
  assert.throws(
    () => parseConfig({ mcpServers: {}, gateway: { quotas: [{ ratePerSec: 1, burst: 1 }] } }),
    /gateway\.quotas\[0\]\.service.*must be a non-empty string/,
  );
  assert.throws(
    () =>
      parseConfig({
        mcpServers: {},
        gateway: { quotas: [{ service: "s", ratePerSec: 0, burst: 1 }] },
      }),
    /gateway\.quotas\[0\].*ratePerSec must be a positive number/,
  );
});
