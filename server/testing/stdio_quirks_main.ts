/**
 * The test backend over stdio, bent the way many stdio servers are: it prints
 * a banner and log lines on stdout (where only JSON-RPC belongs) and sends
 * notifications before the client's `initialized` (right before answering
 * `initialize`). A proxy in front of the real test backend does the bending.
 *
 *     deno run -A server/testing/stdio_quirks_main.ts
 *
 * @module
 */
const BACKEND_MAIN = new URL("./backend_main.ts", import.meta.url).pathname;
const encoder = new TextEncoder();
const out = Deno.stdout.writable.getWriter();
const write = (line: string) => out.write(encoder.encode(`${line}\n`));

await write("Quirks server v1.0 starting (a banner on stdout)");
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", BACKEND_MAIN, "--replica", "stdio-quirks"],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const toChild = child.stdin.getWriter();
const initializeIds = new Set<unknown>();

async function pump(
  from: ReadableStream<Uint8Array>,
  onLine: (line: string) => Promise<void>,
): Promise<void> {
  let partial = "";
  for await (const chunk of from.pipeThrough(new TextDecoderStream())) {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (line.trim() !== "") await onLine(line);
  }
}

const fromClient = pump(Deno.stdin.readable, async (line) => {
  const message = JSON.parse(line);
  if (message.method === "initialize") initializeIds.add(message.id);
  await toChild.write(encoder.encode(`${line}\n`));
});
const fromChild = pump(child.stdout, async (line) => {
  const message = JSON.parse(line);
  if (initializeIds.has(message.id) && message.result !== undefined) {
    await write("[info] client connected (a log line on stdout)");
    await write(JSON.stringify({
      jsonrpc: "2.0",
      method: "notifications/message",
      params: { level: "info", data: "sent before initialized" },
    }));
    await write(JSON.stringify({ jsonrpc: "2.0", method: "notifications/tools/list_changed" }));
  }
  await write(line);
});
await fromClient.catch(() => {});
await toChild.close().catch(() => {});
await Promise.race([fromChild.catch(() => {}), child.status]);
await child.status;
