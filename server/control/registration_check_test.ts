import assert from "node:assert/strict";
import type { ServiceConfig } from "../config.ts";
import { parseConfig } from "../config.ts";
import { checkRuntimeService, type RegistrationResolver } from "./registration_check.ts";
import { DEFAULT_MANAGEMENT, type RegistrationRules } from "./management_config.ts";
import { RegistrationRefusedError } from "./registration_policy.ts";

/** A machine where /usr/bin/npx links to the real npx and evil.test resolves to metadata. */
const resolver: RegistrationResolver = {
  realPath: (path) => {
    const links: Record<string, string> = {
      "/usr/bin/npx": "/usr/lib/node/npx-cli.js",
      "/usr/lib/node/npx-cli.js": "/usr/lib/node/npx-cli.js",
      "/tmp/npx": "/tmp/npx",
      "/bin/sh": "/bin/sh",
    };
    return links[path] ? Promise.resolve(links[path]) : Promise.reject(new Error("ENOENT"));
  },
  lookPath: (command) => Promise.resolve(command === "npx" ? "/usr/bin/npx" : undefined),
  resolveHost: (host) =>
    Promise.resolve(
      ({
        "mcp.example.com": ["93.184.216.34"],
        "evil.test": ["169.254.169.254"],
        "internal.example.com": ["10.0.0.7"],
        "mixed.example.com": ["93.184.216.34", "127.0.0.1"],
      } as Record<string, string[]>)[host] ?? [],
    ),
};

function service(server: Record<string, unknown>): ServiceConfig {
  return parseConfig({ mcpServers: { svc: server } }).services[0];
}

const rules: RegistrationRules = {
  ...DEFAULT_MANAGEMENT.registration,
  commands: [{ command: "/usr/lib/node/npx-cli.js", args: ["-y", "@modelcontextprotocol/*"] }],
  httpHosts: ["*"],
  secrets: ["env:GH_TOKEN"],
};

async function refused(server: Record<string, unknown>, pattern: RegExp, r = rules) {
  await assert.rejects(
    checkRuntimeService(service(server), r, resolver),
    (error: Error) => {
      assert.ok(error instanceof RegistrationRefusedError, String(error));
      assert.match(error.message, pattern);
      return true;
    },
  );
}

Deno.test("runtime stdio registrations run only allow-listed commands, resolved", async () => {
  // Through PATH and a symlink to the allowed real path.
  await checkRuntimeService(
    service({ command: "npx", args: ["-y", "@modelcontextprotocol/server-everything"] }),
    rules,
    resolver,
  );
  await refused({ command: "/bin/sh", args: ["-c", "id"] }, /not allowed/);
  await refused({ command: "npx", args: ["-y", "evil"] }, /not allowed/);
  await refused({ command: "/tmp/npx", args: ["-y", "@modelcontextprotocol/x"] }, /not allowed/);
  await refused({ command: "./npx", args: [] }, /relative path/);
  await refused({ command: "nope", args: [] }, /not on PATH/);
  await refused(
    { command: "npx", args: [] },
    /no command is allowed/,
    DEFAULT_MANAGEMENT.registration,
  );
  await refused({
    command: "npx",
    args: ["-y", "@modelcontextprotocol/server-everything"],
    cwd: "/tmp/attacker",
  }, /cwd/);
  await refused({
    command: "npx",
    args: ["-y", "@modelcontextprotocol/server-everything"],
    env: { GH_TOKEN: "ghp_literal" },
  }, /literal value/);
  // Every replica of a list is checked.
  await refused({
    replicas: [
      { command: "npx", args: ["-y", "@modelcontextprotocol/a"] },
      { command: "/bin/sh", args: [] },
    ],
  }, /replicas\[1\]/);
});

Deno.test("runtime HTTP registrations reach only allowed, public hosts", async () => {
  await checkRuntimeService(service({ url: "https://mcp.example.com/mcp" }), rules, resolver);
  await checkRuntimeService(
    service({
      url: "https://mcp.example.com/mcp",
      headers: { Authorization: "Bearer ${env:GH_TOKEN}" },
    }),
    rules,
    resolver,
  );
  await refused({ url: "http://169.254.169.254/latest/meta-data/" }, /metadata/);
  await refused({ url: "http://169.254.10.10/" }, /linkLocal/);
  await refused({ url: "http://[fe80::1]/" }, /linkLocal/);
  await refused({ url: "http://metadata.google.internal/computeMetadata/v1/" }, /metadata/);
  await refused({ url: "http://evil.test/" }, /resolves to 169\.254\.169\.254/);
  await refused({ url: "http://internal.example.com/" }, /private/);
  await refused({ url: "http://127.0.0.1:8080/mcp" }, /loopback/);
  await refused({ url: "http://mixed.example.com/" }, /127\.0\.0\.1/);
  await refused({ url: "http://unknown.example.com/" }, /does not resolve/);
  await refused(
    { url: "https://mcp.example.com/mcp", headers: { Authorization: "Bearer sk-live" } },
    /literal value/,
  );
  await refused({ url: "https://mcp.example.com/" }, /httpHosts/, {
    ...rules,
    httpHosts: ["other.example.com"],
  });
  // Credentials towards the backend: a referenced secret, an issuer the rules allow.
  const oauth = {
    issuer: "https://mcp.example.com",
    clientId: "gw",
    clientSecret: "${env:GH_TOKEN}",
  };
  await checkRuntimeService(
    service({ url: "https://mcp.example.com/mcp", oauth }),
    rules,
    resolver,
  );
  await refused(
    { url: "https://mcp.example.com/mcp", oauth: { ...oauth, clientSecret: "s3cret" } },
    /oauth\.clientSecret: a registered record may not hold a literal/,
  );
  await refused(
    { url: "https://mcp.example.com/mcp", oauth: { ...oauth, issuer: "http://169.254.169.254" } },
    /oauth\.issuer: 169\.254\.169\.254 is a cloud metadata address/,
  );
  // Private networks when the operator says so.
  await checkRuntimeService(service({ url: "http://internal.example.com/" }), {
    ...rules,
    allowPrivateNetworks: true,
  }, resolver);
});
