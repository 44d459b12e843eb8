import assert from "node:assert/strict";
import {
  addressAllowed,
  argsAllowed,
  checkSecretReferences,
  classifyAddress,
  hostAllowed,
  RegistrationRefusedError,
} from "./registration_policy.ts";
import { DEFAULT_MANAGEMENT, parseManagementConfig } from "./management_config.ts";
import { ConfigError } from "@safla/core";

Deno.test("classifyAddress: link-local, private, loopback and public, v4, v6 and mapped", () => {
  const cases: [string, string | undefined][] = [
    ["169.254.169.254", "linkLocal"],
    ["169.254.0.1", "linkLocal"],
    ["fe80::1", "linkLocal"],
    ["[fe80::abcd%eth0]", "linkLocal"],
    ["febf::1", "linkLocal"],
    ["::ffff:169.254.169.254", "linkLocal"],
    ["::ffff:a9fe:a9fe", "linkLocal"],
    ["10.0.0.1", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "private"],
    ["fd00:ec2::254", "private"],
    ["fc00::1", "private"],
    ["127.0.0.1", "loopback"],
    ["127.5.5.5", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["8.8.8.8", "public"],
    ["172.32.0.1", "public"],
    ["2001:4860:4860::8888", "public"],
    ["example.com", undefined],
    ["256.1.1.1", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
  ];
  for (const [address, expected] of cases) {
    assert.equal(classifyAddress(address), expected, address);
  }
});

Deno.test("hostAllowed: exact names, ports, wildcards of subdomains, and *", () => {
  assert.equal(hostAllowed("mcp.example.com", "443", ["mcp.example.com"]), true);
  assert.equal(hostAllowed("mcp.example.com", "443", ["mcp.example.com:8443"]), false);
  assert.equal(hostAllowed("mcp.example.com", "8443", ["mcp.example.com:8443"]), true);
  assert.equal(hostAllowed("a.tools.example.com", "443", ["*.tools.example.com"]), true);
  assert.equal(hostAllowed("tools.example.com", "443", ["*.tools.example.com"]), false);
  assert.equal(hostAllowed("eviltools.example.com", "443", ["*.tools.example.com"]), false);
  assert.equal(hostAllowed("anything.org", "80", ["*"]), true);
  assert.equal(hostAllowed("anything.org", "80", []), false);
  assert.equal(hostAllowed("::1", "80", ["[::1]:80"]), true);
});

Deno.test("addressAllowed: link-local only when named exactly; private with the flag", () => {
  const rules = { ...DEFAULT_MANAGEMENT.registration, httpHosts: ["*"] };
  assert.equal(addressAllowed("public", "x.org", rules), true);
  assert.equal(addressAllowed("private", "x.org", rules), false);
  assert.equal(addressAllowed("loopback", "x.org", rules), false);
  assert.equal(addressAllowed("linkLocal", "x.org", rules), false);
  const privateOk = { ...rules, allowPrivateNetworks: true };
  assert.equal(addressAllowed("private", "x.org", privateOk), true);
  assert.equal(addressAllowed("linkLocal", "x.org", privateOk), false);
  const named = { ...rules, httpHosts: ["169.254.10.10"] };
  assert.equal(addressAllowed("linkLocal", "169.254.10.10", named), true);
});

Deno.test("argsAllowed: exact count, * within one argument, ... for the rest", () => {
  const rule = { command: "/usr/bin/npx", args: ["-y", "@modelcontextprotocol/server-*"] };
  assert.equal(argsAllowed(rule, ["-y", "@modelcontextprotocol/server-everything"]), true);
  assert.equal(argsAllowed(rule, ["-y", "evil-package"]), false);
  assert.equal(argsAllowed(rule, ["-y", "@modelcontextprotocol/server-x", "--extra"]), false);
  assert.equal(argsAllowed(rule, ["-c", "@modelcontextprotocol/server-x"]), false);
  assert.equal(argsAllowed({ command: "/bin/tool" }, []), true);
  assert.equal(argsAllowed({ command: "/bin/tool" }, ["-x"]), false);
  assert.equal(
    argsAllowed({ command: "/bin/tool", args: ["run", "..."] }, ["run", "a", "b"]),
    true,
  );
  assert.equal(argsAllowed({ command: "/bin/tool", args: ["run", "..."] }, ["exec"]), false);
  // Regex characters in patterns are literal.
  assert.equal(argsAllowed({ command: "/bin/t", args: ["a.b"] }, ["axb"]), false);
});

Deno.test("checkSecretReferences: literals refused, references only when offered", () => {
  const offered = ["env:GITHUB_TOKEN", "file:/run/secrets/*"];
  checkSecretReferences({ TOKEN: "${env:GITHUB_TOKEN}" }, "env", offered);
  checkSecretReferences({ Authorization: "Bearer ${file:/run/secrets/gh}" }, "headers", offered);
  const refused = (values: Record<string, string>, pattern: RegExp) =>
    assert.throws(
      () => checkSecretReferences(values, "env", offered),
      (error: Error) => error instanceof RegistrationRefusedError && pattern.test(error.message),
    );
  refused({ TOKEN: "ghp_literal" }, /literal value/);
  refused({ TOKEN: "Bearer ghp_literal" }, /literal value/);
  refused({ TOKEN: "${env:GITHUB_TOKEN}x" }, /literal value/);
  refused({ TOKEN: "${env:SAFLA_CLUSTER_SECRET}" }, /not offered/);
  refused({ TOKEN: "${file:/data/n1/admin-token}" }, /not offered/);
});

Deno.test("parseManagementConfig: defaults off; bad shapes named", () => {
  assert.deepEqual(parseManagementConfig(undefined), DEFAULT_MANAGEMENT);
  const m = parseManagementConfig({
    anonymousAdmin: true,
    registration: {
      commands: [{ command: "/usr/bin/npx", args: ["-y", "x"] }],
      httpHosts: ["MCP.example.com"],
      secrets: ["env:GH_TOKEN"],
    },
  });
  assert.equal(m.anonymousAdmin, true);
  assert.deepEqual(m.registration.httpHosts, ["mcp.example.com"]);
  for (
    const bad of [
      { anonymousAdmin: "yes" },
      { registration: { commands: [{ command: "npx" }] } },
      { registration: { httpHosts: "x" } },
      { registration: { secrets: ["GH_TOKEN"] } },
      { registration: { other: 1 } },
    ]
  ) {
    assert.throws(() => parseManagementConfig(bad, "f.json"), ConfigError, JSON.stringify(bad));
  }
});
