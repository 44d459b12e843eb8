// Hedging through the whole gateway with stand-in replicas: one never answers a
// read, so every read that picks it first is saved by a hedge, and the stuck
// attempt is cancelled; a write is never hedged. No child process, no sleeps
// beyond the hedge delay.
import assert from "node:assert/strict";
import { SeededRng } from "@safla/core";
import type { BackendRequestOptions, Catalog } from "@safla/transports";
import { config } from "../testing/harness.ts";
import { never, standInFactory } from "../testing/stand_in_backend.ts";
import { Gateway } from "./gateway.ts";

const CATALOG: Catalog = {
  tools: [
    { name: "whoami", inputSchema: { type: "object" }, annotations: { readOnlyHint: true } },
    { name: "increment", inputSchema: { type: "object" } },
  ],
  resources: [],
  resourceTemplates: [],
  prompts: [],
  capabilities: { tools: {} },
  era: "modern",
  protocolVersion: "2026-07-28",
};
const HEDGE_DELAY_MS = 20;
const WRITE_LATENCY_MS = 3 * HEDGE_DELAY_MS;

function answer(text: string) {
  return { content: [{ type: "text", text }] };
}

/** The slow replica: reads hang until cancelled, writes answer after a while. */
function slow(
  _method: string,
  params: Record<string, unknown> | undefined,
  options: BackendRequestOptions,
): Promise<Record<string, unknown>> {
  if (params?.name === "whoami") return never(_method, params, options);
  return new Promise((resolve) => setTimeout(() => resolve(answer("slow")), WRITE_LATENCY_MS));
}

function fast(
  _method: string,
  _params: Record<string, unknown> | undefined,
): Promise<Record<string, unknown>> {
  return Promise.resolve(answer("fast"));
}

Deno.test("gateway hedging with stand-in replicas: reads are saved, losers cancelled, writes never hedged", async () => {
  const { factory, made } = standInFactory(CATALOG, { "svc#0": slow, "svc#1": fast });
  const gateway = new Gateway(
    config({
      svc: {
        replicas: [{ command: "stand-in" }, { command: "stand-in" }],
        strategy: "round-robin",
      },
    }, { hedgeDelayMs: HEDGE_DELAY_MS }),
    { nowMs: () => performance.now(), rng: new SeededRng(1), backendFactory: factory },
  );
  await gateway.start();
  try {
    const ctx = { notify: () => Promise.resolve() };
    const text = async (name: string): Promise<string> => {
      const result = await gateway.callTool({ name, arguments: {} }, ctx);
      return (result.content as { text: string }[])[0].text;
    };
    const stuck = made.get("svc#0")!;
    for (let i = 0; i < 4; i++) assert.equal(await text("svc__whoami"), "fast");
    // Every read that went to the stuck replica was hedged, and the stuck attempt cancelled.
    const stuckReads = stuck.received.length;
    assert.ok(stuckReads >= 1, "round robin never picked the stuck replica");
    assert.ok(stuck.received.every((r) => r.signal?.aborted === true), "losers were cancelled");
    const status = gateway.status() as {
      hedges: number;
      services: { routing: { inFlight: number; hedges: number } }[];
    };
    assert.equal(status.hedges, stuckReads);
    assert.equal(status.services[0].routing.hedges, stuckReads);

    // A write is not repeat-safe: it waits for whichever replica it was sent to.
    const writes = [await text("svc__increment"), await text("svc__increment")].sort();
    assert.deepEqual(writes, ["fast", "slow"]);
    const after = gateway.status() as typeof status;
    assert.equal(after.hedges, status.hedges, "a write was hedged");
    assert.equal(after.services[0].routing.inFlight, 0, "an attempt was left in flight");
  } finally {
    await gateway.close();
  }
});
