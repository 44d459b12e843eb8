import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../config.ts";

const SERVERS = { mcpServers: { fs: { command: "x" } } };

Deno.test("config policies are validated and kept; errors name the file and the field", () => {
  const policy = { name: "p", service: "fs", rules: [{ effect: "allow", subjects: ["a"] }] };
  assert.deepEqual(parseConfig({ ...SERVERS, policies: [policy] }).policies, [policy]);
  assert.equal(parseConfig(SERVERS).policies, undefined);
  assert.throws(
    () =>
      parseConfig({ ...SERVERS, policies: [{ ...policy, rules: [{ effect: "no" }] }] }, "gw.json"),
    (e) =>
      e instanceof ConfigError && e.field === "policies[0].rules[0].effect" &&
      e.message.startsWith("gw.json: policies[0].rules[0].effect:"),
  );
  assert.throws(() => parseConfig({ ...SERVERS, policies: {} }), /policies: must be a list/);
});
