import assert from "node:assert/strict";
import fc from "fast-check";
import {
  matchesCapabilities,
  type ReplicaSpec,
  ServiceValidationError,
  validateReplica,
  validateServiceId,
} from "./service.ts";

const http: ReplicaSpec = {
  id: "10.0.0.1:3000",
  name: "github",
  version: "1.2.0",
  transport: {
    kind: "streamable-http",
    url: "https://mcp.example.com/mcp",
    headers: { Authorization: "Bearer x" },
  },
  capabilities: { tools: { listChanged: true }, resources: { subscribe: true } },
  metadata: { zone: "a" },
};

const stdio: ReplicaSpec = {
  id: "local-1",
  name: "fs",
  version: "0.1.0",
  transport: {
    kind: "stdio",
    command: "deno",
    args: ["run", "server.ts"],
    env: { LOG: "debug" },
    cwd: "/srv",
  },
  capabilities: { tools: {} },
  metadata: {},
};

Deno.test("validateReplica", async (t) => {
  await t.step("accepts each transport kind and returns a detached copy", () => {
    for (
      const replica of [http, stdio, {
        ...http,
        transport: { ...http.transport, kind: "sse" as const },
      }]
    ) {
      const copy = validateReplica(structuredClone(replica));
      assert.deepEqual(copy, replica);
    }
    const input = structuredClone(stdio);
    const copy = validateReplica(input);
    (input.transport as { args: string[] }).args.push("--evil");
    assert.deepEqual((copy.transport as { args: string[] }).args, ["run", "server.ts"]);
  });
  await t.step("drops fields that are not part of a replica", () => {
    const copy = validateReplica({
      ...stdio,
      extra: 1,
      transport: { ...stdio.transport, url: "x" },
    });
    assert.ok(!("extra" in copy));
    assert.ok(!("url" in copy.transport));
  });
  await t.step("names the offending field", () => {
    const table: Array<[unknown, string]> = [
      [null, "replica"],
      [{ ...http, id: "a/b" }, "id"],
      [{ ...http, id: "" }, "id"],
      [{ ...http, name: "" }, "name"],
      [{ ...http, version: 3 }, "version"],
      [{ ...http, transport: null }, "transport"],
      [{ ...http, transport: { kind: "websocket" } }, "transport.kind"],
      [{ ...http, transport: { ...http.transport, url: "not a url" } }, "transport.url"],
      [{ ...http, transport: { ...http.transport, url: "ftp://x/mcp" } }, "transport.url"],
      [
        { ...http, transport: { ...http.transport, headers: { "Bad Header": "x" } } },
        "transport.headers.Bad Header",
      ],
      [{ ...http, transport: { ...http.transport, headers: { A: 1 } } }, "transport.headers.A"],
      [{ ...stdio, transport: { ...stdio.transport, command: "" } }, "transport.command"],
      [{ ...stdio, transport: { ...stdio.transport, args: ["ok", 2] } }, "transport.args.1"],
      [{ ...stdio, transport: { ...stdio.transport, args: "run" } }, "transport.args"],
      [{ ...stdio, transport: { ...stdio.transport, env: { "A=B": "x" } } }, "transport.env.A=B"],
      [{ ...stdio, transport: { ...stdio.transport, cwd: "" } }, "transport.cwd"],
      [{ ...http, capabilities: [] }, "capabilities"],
      [{ ...http, metadata: { w: NaN } }, "metadata.w"],
    ];
    for (const [input, field] of table) {
      assert.throws(() => validateReplica(input), (e: unknown) => {
        assert.ok(e instanceof ServiceValidationError, String(e));
        assert.equal(e.field, field);
        assert.ok(e.message.startsWith(field));
        return true;
      });
    }
  });
});

Deno.test("validateServiceId", () => {
  for (const ok of ["github", "a", "my-server_2.v1", "x".repeat(64)]) {
    assert.equal(validateServiceId(ok), ok);
  }
  for (const bad of ["", "-x", "a/b", "a b", "x".repeat(65), 7, null]) {
    assert.throws(
      () => validateServiceId(bad),
      (e: unknown) => e instanceof ServiceValidationError && e.field === "serviceId",
    );
  }
});

Deno.test("matchesCapabilities", async (t) => {
  await t.step("seed-style equality and structural presence", () => {
    const caps = http.capabilities;
    const table: Array<[object, boolean]> = [
      [{}, true],
      [{ tools: {} }, true],
      [{ tools: { listChanged: true } }, true],
      [{ tools: { listChanged: false } }, false],
      [{ prompts: {} }, false],
      [{ tools: {}, resources: { subscribe: true } }, true],
      [{ resources: true }, false],
    ];
    for (const [filter, expected] of table) {
      assert.equal(matchesCapabilities(caps, filter as never), expected, JSON.stringify(filter));
    }
  });
  await t.step("every value matches itself and the empty filter", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => {
        const value = JSON.parse(JSON.stringify(v));
        assert.ok(matchesCapabilities(value, value));
        assert.ok(matchesCapabilities({ k: value }, {}));
      }),
      { numRuns: 200 },
    );
  });
});
