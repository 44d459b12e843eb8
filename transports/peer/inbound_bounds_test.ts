import assert from "node:assert/strict";
import type { Message } from "@safla/core";
import { ReportLimiter } from "./inbound_guard.ts";
import { type PeerEvent, PeerTransport } from "./peer_transport.ts";
import { waitFor } from "../host/testing.ts";
import { heartbeat, transportOptions } from "./testing.ts";

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* closed by the server */ }
}

/** Resolves when the server ends the connection (EOF or reset), with the time it took. */
async function closedWithin(conn: Deno.Conn): Promise<number> {
  const started = performance.now();
  const buffer = new Uint8Array(1024);
  try {
    while ((await conn.read(buffer)) !== null) { /* drain */ }
  } catch { /* reset */ }
  return performance.now() - started;
}

Deno.test("a stranger's huge length prefix is refused at once, before anything is buffered", async () => {
  const events: PeerEvent[] = [];
  const b = await PeerTransport.start(transportOptions("b", { onEvent: (e) => events.push(e) }));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: b.port });
  try {
    const header = new Uint8Array(5);
    new DataView(header.buffer).setUint32(0, 60 * 1024 * 1024, true);
    header[4] = 5;
    await conn.write(header);
    // What v1 buffered until the frame was whole: a MiB of it is on its way.
    conn.write(new Uint8Array(1024 * 1024)).catch(() => {});
    const elapsedMs = await closedWithin(conn);
    assert.ok(elapsedMs < 2_000, `closed after ${elapsedMs} ms, not at once`);
    await waitFor("the rejection", () => events.some((e) => e.kind === "rejected"), 2_000);
    const rejection = events.find((e) => e.kind === "rejected");
    assert.ok(
      rejection?.kind === "rejected" &&
        /frame of 62914560 bytes \(limit 4096\)/.test(rejection.reason),
      JSON.stringify(rejection),
    );
    assert.equal(b.inboundStats().unauthenticated, 0);
  } finally {
    closeQuietly(conn);
    await b.close();
  }
});

Deno.test("a stranger dripping a hello is cut off at the handshake deadline", async () => {
  const events: PeerEvent[] = [];
  const b = await PeerTransport.start(
    transportOptions("b", { handshakeTimeoutMs: 300, onEvent: (e) => events.push(e) }),
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: b.port });
  let dripping = true;
  const drip = (async () => {
    // A hello's header, then a byte every 50 ms: each read gives the server something.
    const bytes = [200, 0, 0, 0, 5, ...new Array(195).fill(0)];
    for (let i = 0; i < bytes.length && dripping; i++) {
      await conn.write(new Uint8Array([bytes[i]])).catch(() => (dripping = false));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  try {
    const elapsedMs = await closedWithin(conn);
    assert.ok(elapsedMs < 2_000, `closed after ${elapsedMs} ms`);
    await waitFor("the rejection", () => events.some((e) => e.kind === "rejected"), 2_000);
    const rejection = events.find((e) => e.kind === "rejected");
    assert.ok(rejection?.kind === "rejected" && /timed out after 300 ms/.test(rejection.reason));
  } finally {
    dripping = false;
    await drip;
    closeQuietly(conn);
    await b.close();
  }
});

Deno.test("a flood of idle connections stays within the cap and does not keep a real peer out", async () => {
  const maxUnauthenticated = 8;
  const received: Message[] = [];
  const b = await PeerTransport.start(transportOptions("b", {
    maxUnauthenticated,
    onMessages: (batch) => received.push(...batch),
  }));
  const flood: Deno.Conn[] = [];
  let flooding = true;
  let most = 0;
  const flooder = (async () => {
    // Bounded: at most 400 connections, one every few ms, for the whole test.
    for (let i = 0; i < 400 && flooding; i++) {
      flood.push(await Deno.connect({ hostname: "127.0.0.1", port: b.port }));
      most = Math.max(most, b.inboundStats().unauthenticated);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  })();
  let a: PeerTransport | undefined;
  try {
    await waitFor("the cap to be reached", () => b.inboundStats().evicted > 0, 5_000);
    a = await PeerTransport.start(
      transportOptions("a", { peers: { b: `127.0.0.1:${b.port}` }, minBackoffMs: 10 }),
    );
    let commit = 0;
    await waitFor("a real peer's message", () => {
      a!.send([heartbeat("a", "b", ++commit)]);
      return received.length > 0;
    }, 5_000);
    assert.ok(most <= maxUnauthenticated, `${most} connections in their handshake at once`);
    const stats = b.inboundStats();
    assert.ok(stats.unauthenticated <= maxUnauthenticated);
    assert.ok(stats.evicted > 0 && stats.authenticated >= 1, JSON.stringify(stats));
  } finally {
    flooding = false;
    await flooder;
    for (const conn of flood) closeQuietly(conn);
    await a?.close();
    await b.close();
  }
});

Deno.test("rejections reach the log at a bounded rate, with a count of those held back", () => {
  const limiter = new ReportLimiter(10, 1_000);
  const admitted = Array.from({ length: 100 }, (_, i) => limiter.admit(i)); // 100 in 100 ms
  assert.equal(admitted.filter((s) => s !== undefined).length, 10);
  assert.deepEqual(admitted.slice(0, 10), new Array(10).fill(0));
  assert.equal(limiter.admit(1_000), 90);
  assert.equal(limiter.admit(1_001), 0);
});

Deno.test("nonsense limits are refused at start", async () => {
  await assert.rejects(
    PeerTransport.start(transportOptions("a", { maxUnauthenticated: 0 })),
    /maxUnauthenticated/,
  );
  await assert.rejects(
    PeerTransport.start(transportOptions("a", { handshakeTimeoutMs: 1.5 })),
    /handshakeTimeoutMs/,
  );
});
