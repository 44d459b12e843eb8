import assert from "node:assert/strict";
import type { Message } from "@safla/core";
import { type PeerEvent, PeerTransport } from "./peer_transport.ts";
import { waitFor } from "../host/testing.ts";
import { transportOptions } from "./testing.ts";

function message(from: string, to: string, index: number): Message {
  return {
    type: "app",
    from,
    to,
    term: 1,
    logTerm: 1,
    index,
    commit: 0,
    reject: false,
    rejectHint: 0,
    entries: [{ term: 1, index: index + 1, type: "normal", data: new Uint8Array([index & 0xff]) }],
  };
}

Deno.test("messages reach their peer in order, batched over one authenticated connection", async () => {
  const received: Message[] = [];
  const b = await PeerTransport.start(
    transportOptions("b", { onMessages: (batch) => received.push(...batch) }),
  );
  const a = await PeerTransport.start(
    transportOptions("a", { peers: { b: `127.0.0.1:${b.port}` } }),
  );
  try {
    for (let i = 0; i < 500; i++) a.send([message("a", "b", i)]);
    await waitFor("500 messages", () => received.length === 500, 5_000);
    assert.deepEqual(received.map((m) => m.index), Array.from({ length: 500 }, (_, i) => i));
    assert.equal(a.stats().b.sent, 500);
    assert.equal(a.stats().b.connected, true);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("a peer with the wrong secret is rejected and logged, and delivers nothing", async () => {
  const received: Message[] = [];
  const events: PeerEvent[] = [];
  const b = await PeerTransport.start(
    transportOptions("b", {
      onMessages: (batch) => received.push(...batch),
      onEvent: (e) => events.push(e),
    }),
  );
  const unreachable: string[] = [];
  const intruder = await PeerTransport.start(transportOptions("x", {
    secret: "not-the-cluster-secret-at-all",
    peers: { b: `127.0.0.1:${b.port}` },
    onUnreachable: (peer) => unreachable.push(peer),
  }));
  try {
    intruder.send([message("x", "b", 1)]);
    await waitFor("the intruder to give up", () => unreachable.length > 0, 5_000);
    await waitFor(
      "the rejection to be logged",
      () => events.some((e) => e.kind === "rejected"),
      5_000,
    );
    assert.ok(events.some((e) => e.kind === "rejected" && e.claimedNodeId === "x"));
    assert.equal(received.length, 0);
    assert.equal(intruder.stats().b.connected, false);
  } finally {
    await intruder.close();
    await b.close();
  }
});

Deno.test("a peer of another cluster is rejected with the cluster named", async () => {
  const events: PeerEvent[] = [];
  const b = await PeerTransport.start(transportOptions("b", { onEvent: (e) => events.push(e) }));
  const other = await PeerTransport.start(
    transportOptions("a", { clusterId: "other", peers: { b: `127.0.0.1:${b.port}` } }),
  );
  try {
    other.send([message("a", "b", 1)]);
    await waitFor("a rejection", () => events.some((e) => e.kind === "rejected"), 5_000);
    const rejection = events.find((e) => e.kind === "rejected");
    assert.ok(rejection?.kind === "rejected" && /wrong cluster "other"/.test(rejection.reason));
  } finally {
    await other.close();
    await b.close();
  }
});

Deno.test("a message claiming another sender is refused", async () => {
  const received: Message[] = [];
  const events: PeerEvent[] = [];
  const b = await PeerTransport.start(
    transportOptions("b", {
      onMessages: (batch) => received.push(...batch),
      onEvent: (e) => events.push(e),
    }),
  );
  const a = await PeerTransport.start(
    transportOptions("a", { peers: { b: `127.0.0.1:${b.port}` } }),
  );
  try {
    a.send([message("c", "b", 1)]);
    await waitFor("a rejection", () => events.some((e) => e.kind === "rejected"), 5_000);
    assert.equal(received.length, 0);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("the outbound queue is bounded: overflow is dropped, counted and reported", async () => {
  const unreachable: string[] = [];
  const a = await PeerTransport.start(transportOptions("a", {
    peers: { b: "127.0.0.1:1" },
    maxQueuedMessages: 10,
    onUnreachable: (peer) => unreachable.push(peer),
  }));
  try {
    a.send(Array.from({ length: 25 }, (_, i) => message("a", "b", i)));
    assert.ok(a.stats().b.queued <= 10);
    assert.ok(a.stats().b.dropped >= 15);
    assert.ok(unreachable.includes("b"));
  } finally {
    await a.close();
  }
});

Deno.test("a link reconnects after its peer restarts on the same port", async () => {
  const received: Message[] = [];
  let b = await PeerTransport.start(
    transportOptions("b", { onMessages: (batch) => received.push(...batch) }),
  );
  const port = b.port;
  const a = await PeerTransport.start(
    transportOptions("a", { peers: { b: `127.0.0.1:${port}` }, minBackoffMs: 10 }),
  );
  try {
    a.send([message("a", "b", 1)]);
    await waitFor("first delivery", () => received.length === 1, 5_000);
    await b.close();
    b = await PeerTransport.start(
      transportOptions("b", { port, onMessages: (batch) => received.push(...batch) }),
    );
    await waitFor("delivery after restart", () => {
      a.send([message("a", "b", 2)]);
      return received.some((m) => m.index === 2);
    }, 5_000);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("a short cluster secret is refused at start", async () => {
  await assert.rejects(
    () => PeerTransport.start(transportOptions("a", { secret: "short" })),
    /at least 16 characters/,
  );
});

Deno.test("a batch larger than a frame goes as several frames; a message over the limit is dropped, the link kept", async () => {
  const limitBytes = 8 * 1024;
  const received: Message[] = [];
  const events: PeerEvent[] = [];
  const b = await PeerTransport.start(
    transportOptions("b", {
      maxFrameBytes: limitBytes,
      onMessages: (batch) => received.push(...batch),
      onEvent: (e) => events.push(e),
    }),
  );
  const unreachable: string[] = [];
  const a = await PeerTransport.start(transportOptions("a", {
    maxFrameBytes: limitBytes,
    peers: { b: `127.0.0.1:${b.port}` },
    onUnreachable: (peer) => unreachable.push(peer),
    onEvent: (e) => events.push(e),
  }));
  const sized = (index: number, sizeBytes: number): Message => ({
    ...message("a", "b", index),
    entries: [{ term: 1, index: index + 1, type: "normal", data: new Uint8Array(sizeBytes) }],
  });
  try {
    // One send: 2 KiB messages, a message over the limit in the middle, then more.
    const batch = [
      ...Array.from({ length: 10 }, (_, i) => sized(i, 2048)),
      sized(10, limitBytes),
      ...Array.from({ length: 5 }, (_, i) => sized(11 + i, 100)),
    ];
    a.send(batch);
    await waitFor("15 messages", () => received.length === 15, 5_000);
    assert.deepEqual(received.map((m) => m.index), [...Array(10).keys(), 11, 12, 13, 14, 15]);
    assert.ok(events.some((e) => e.kind === "oversized" && e.peer === "b" && e.type === "app"));
    assert.ok(!events.some((e) => e.kind === "rejected" || e.kind === "disconnected"), "link kept");
    assert.deepEqual(unreachable, ["b"]);
    assert.equal(a.stats().b.sent, 15);
    assert.equal(a.stats().b.dropped, 1);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("a frame limit too small to carry anything is refused", async () => {
  await assert.rejects(
    PeerTransport.start(transportOptions("a", { maxFrameBytes: 100 })),
    /maxFrameBytes/,
  );
});
