/**
 * One node in this process: writes (or deletes) N keys, or only reopens an
 * existing data dir, and prints what the heap, the external buffers and the
 * RSS hold after a full GC, and how long opening took until the node leads
 * and has applied everything committed.
 *
 *     deno run -A --v8-flags=--expose-gc transports/host/restart_probe.ts N DIR [put|delete]
 *
 * With N = 0 it only reopens DIR: the restart cost of that data.
 *
 * @module
 */
import { encodeCommand } from "@safla/core";
import { NodeHost } from "./node_host.ts";
import { freePort } from "./testing.ts";

/** Requests in flight while writing. */
const CONCURRENCY = 256;

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

/** Longest wait for a snapshot being written to become durable before measuring. */
const SETTLE_TIMEOUT_MS = 60_000;

/**
 * Waits until no snapshot's bytes are held in memory for want of a durable
 * file: a snapshot taken just before measuring would otherwise count as
 * steady-state memory.
 */
async function settled(host: NodeHost): Promise<void> {
  const deadlineMs = performance.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const { index, dataHeld } = host.status().snapshot;
    if (index === 0 || !dataHeld) return;
    if (performance.now() > deadlineMs) {
      console.log(`snapshot ${index} still held after ${SETTLE_TIMEOUT_MS} ms`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function memory(label: string): void {
  gc();
  gc();
  const m = Deno.memoryUsage();
  const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
  console.log(
    `${label}: heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB, external ${mb(m.external)} MB, ` +
      `rss ${mb(m.rss)} MB`,
  );
}

async function main(args: string[]): Promise<void> {
  const count = Number(args[0] ?? 100_000);
  const dir = args[1] ?? await Deno.makeTempDir({ prefix: "restart-probe-" });
  const mode = args[2] ?? "put";
  const members = {
    n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` },
  };
  const startedMs = performance.now();
  const host = await NodeHost.open({
    nodeId: "n1",
    clusterId: "probe",
    secret: "restart-probe-secret",
    dataDir: `${dir}/n1`,
    members,
    onLog: (line) => {
      if (line.includes("recovered")) console.log(line);
    },
  });
  try {
    while (
      host.status().role !== "leader" || host.status().appliedIndex < host.status().commitIndex
    ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    console.log(`open to caught up: ${(performance.now() - startedMs).toFixed(0)} ms`);
    await settled(host);
    memory(`opened, ${host.store.size} keys`);
    const value = "v".repeat(256);
    let next = 0;
    const writeStartedMs = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        const key = `k${String(next++).padStart(8, "0")}`;
        const command = mode === "delete" ? { op: "delete" as const, key } : {
          op: "put" as const,
          key,
          value,
        };
        const reply = await host.request(
          { kind: "command", command: encodeCommand(command) },
          30_000,
        );
        if (!reply.ok) throw new Error(`${mode} ${key}: ${JSON.stringify(reply.error)}`);
      }
    }));
    if (count > 0) {
      const seconds = (performance.now() - writeStartedMs) / 1000;
      console.log(`${mode} ${count}: ${(count / seconds).toFixed(0)} ops/s`);
      await settled(host);
      memory(`after ${mode}, ${host.store.size} keys, ${host.store.history.size} events`);
    }
  } finally {
    await host.close();
  }
  console.log(`data dir ${dir}`);
}

if (import.meta.main) await main(Deno.args);
