/**
 * Runs the test backend: over stdio by default, or over Streamable HTTP (both
 * eras) with `--port N` (0 picks a free port; the chosen port is printed to
 * stderr as `listening on PORT`).
 *
 *     deno run -A server/testing/backend_main.ts --replica r1 [--port 0] [--extra-tools 3]
 *
 * @module
 */
import { createMcpHandler } from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { parseArgs } from "node:util";
import { createTestBackend } from "./backend.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    replica: { type: "string", default: "r1" },
    port: { type: "string" },
    "extra-tools": { type: "string", default: "0" },
    "latency-ms": { type: "string", default: "0" },
    // Declares resource subscriptions and a touch_resource tool that reports updates (HTTP only).
    "resource-updates": { type: "boolean", default: false },
    // Serve no tools if this file exists; `arm_empty_restart` creates it, so the
    // next start (after a crash) comes back empty. Probe siblings never arm it.
    "empty-after-restart": { type: "string" },
  },
});

const marker = values["empty-after-restart"];
let noTools = false;
if (marker !== undefined) {
  try {
    await Deno.stat(marker);
    noTools = true;
  } catch {
    noTools = false;
  }
}

const counters = new Map<string, number>();
const dynamicTools: {
  count: number;
  prompts?: number;
  onToolsChanged?: () => void;
  onPromptsChanged?: () => void;
} = { count: 0 };
const factory = () =>
  createTestBackend({
    replicaId: values.replica,
    extraTools: Number(values["extra-tools"]),
    counters,
    noTools,
    dynamicTools,
    latencyMs: Number(values["latency-ms"]),
    armEmptyRestart: marker === undefined ? undefined : () => Deno.writeTextFile(marker, "armed"),
    onResourceUpdated: values.port === undefined || !values["resource-updates"]
      ? undefined
      : (uri) => onResourceUpdated(uri),
  });
let onResourceUpdated = (_uri: string): void => {};

if (values.port === undefined) {
  serveStdio(factory);
} else {
  const handler = createMcpHandler(factory);
  dynamicTools.onToolsChanged = () => handler.notify.toolsChanged();
  dynamicTools.onPromptsChanged = () => handler.notify.promptsChanged();
  onResourceUpdated = (uri) => handler.notify.resourceUpdated(uri);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: Number(values.port),
    onListen: ({ port }) => console.error(`listening on ${port}`),
  }, (request) => handler.fetch(request));
  Deno.addSignalListener("SIGTERM", () => server.shutdown());
}
