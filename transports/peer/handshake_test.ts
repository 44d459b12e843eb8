import assert from "node:assert/strict";
import type { Message } from "@safla/core";
import { importSecret, nonce, packFields, prove, unpackFields, verify } from "./auth.ts";
import { clientProofParts, serverProofParts } from "./handshake.ts";
import { encodeFrame, type Frame, FrameKind, FrameReader } from "./frames.ts";
import { type PeerEvent, PeerTransport } from "./peer_transport.ts";
import { waitFor } from "../host/testing.ts";
import { heartbeat, TEST_SECRET, transportOptions } from "./testing.ts";

/** A raw connection speaking frames, as a stranger would. */
async function stranger(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reader = new FrameReader(conn.readable, 64 * 1024);
  return {
    conn,
    send: (kind: number, payload: Uint8Array) => conn.write(encodeFrame(kind, payload)),
    /** Every frame until the server closes the connection. */
    async rest(): Promise<Frame[]> {
      const frames: Frame[] = [];
      try {
        for (let frame = await reader.next(); frame; frame = await reader.next()) {
          frames.push(frame);
        }
      } catch { /* reset by the server */ }
      return frames;
    },
    next: () => reader.next(),
    close: () => {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    },
  };
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("a stranger who says hello gets nothing to test secret guesses against", async () => {
  const events: PeerEvent[] = [];
  const b = await PeerTransport.start(transportOptions("b", { onEvent: (e) => events.push(e) }));
  const guesses = ["wrong-guess-0123456789", TEST_SECRET, "another-wrong-guess-xyz"];
  try {
    // The v1 hello, to which the server answered with its proof over our nonce.
    const legacy = await stranger(b.port);
    const clientNonce = nonce();
    await legacy.send(FrameKind.legacyHello, packFields(["test", "x", clientNonce]));
    for (const frame of await legacy.rest()) {
      const fields = (() => {
        try {
          return unpackFields(frame.payload, 2);
        } catch {
          return undefined;
        }
      })();
      if (!fields) continue;
      const [serverNonce, proof] = fields;
      for (const guess of guesses) {
        const confirmed = await verify(
          await importSecret(guess),
          ["server", "test", clientNonce, serverNonce],
          proof,
        );
        assert.equal(confirmed, false, `an offline guess was confirmed: ${guess}`);
      }
    }
    legacy.close();

    // The current hello: the challenge holds the node id and a fresh nonce, nothing else.
    const current = await stranger(b.port);
    await current.send(FrameKind.hello, packFields(["2", "test", "x", "b", nonce()]));
    const challenge = await current.next();
    assert.equal(challenge?.kind, FrameKind.challenge);
    const [id, serverNonce] = unpackFields(challenge!.payload, 2);
    assert.equal(decode(id), "b");
    assert.equal(serverNonce.length, 32);
    await current.send(FrameKind.proof, new Uint8Array(32));
    const after = await current.rest();
    assert.deepEqual(after.map((f) => f.kind), [FrameKind.refused], "no accept, no proof");
    assert.equal(decode(after[0].payload), "bad cluster secret");
    current.close();
    await waitFor(
      "two rejections",
      () => events.filter((e) => e.kind === "rejected").length >= 2,
      5_000,
    );
  } finally {
    await b.close();
  }
});

Deno.test("a dialler that reached another node than it meant refuses it, and is refused", async () => {
  const events: PeerEvent[] = [];
  const c = await PeerTransport.start(transportOptions("c", { onEvent: (e) => events.push(e) }));
  const received: Message[] = [];
  const real = await PeerTransport.start(
    transportOptions("b", { onMessages: (batch) => received.push(...batch) }),
  );
  // a believes b is at c's address (a stale member list, a reused port).
  const a = await PeerTransport.start(
    transportOptions("a", { peers: { b: `127.0.0.1:${c.port}` }, onEvent: (e) => events.push(e) }),
  );
  try {
    a.send([heartbeat("a", "b")]);
    await waitFor(
      "a refusal on both sides",
      () =>
        events.some((e) => e.kind === "disconnected" && e.peer === "b") &&
        events.some((e) => e.kind === "rejected"),
      5_000,
    );
    const refused = events.find((e) => e.kind === "rejected");
    assert.ok(
      refused?.kind === "rejected" && refused.reason.includes('dialled node "b"'),
      JSON.stringify(refused),
    );
    const dialler = events.find((e) => e.kind === "disconnected");
    assert.ok(
      dialler?.kind === "disconnected" &&
        dialler.reason === 'refused by the peer: dialled node "b", but this is "c"',
      JSON.stringify(dialler),
    );
    assert.equal(a.stats().b.connected, false);
    assert.equal(received.length, 0);
  } finally {
    await a.close();
    await c.close();
    await real.close();
  }
});

/** A listener that plays the server's side of the handshake without the secret. */
function fakeServer(serverId: string) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await listener.accept();
    const reader = new FrameReader(conn.readable, 64 * 1024);
    const hello = await reader.next();
    assert.equal(hello?.kind, FrameKind.hello);
    await conn.write(encodeFrame(FrameKind.challenge, packFields([serverId, nonce()])));
    const proof = await reader.next().catch(() => undefined);
    if (proof) await conn.write(encodeFrame(FrameKind.accept, new Uint8Array(32)));
    // What the client sends next; a real client sends nothing more.
    const next = proof && await reader.next().catch(() => undefined);
    try {
      conn.close();
    } catch { /* the client closed it */ }
    return { proof, next };
  })();
  return { port: listener.addr.port, served, close: () => listener.close() };
}

Deno.test("a server without the secret cannot pass as a peer", async (t) => {
  for (
    const [name, serverId, proofSent, reason] of [
      [
        "with the expected id: refused after the client's proof",
        "b",
        true,
        /failed authentication/,
      ],
      ["with another id: refused before the client proves anything", "c", false, /is "c", not "b"/],
    ] as const
  ) {
    await t.step(name, async () => {
      const fake = fakeServer(serverId);
      const events: PeerEvent[] = [];
      const a = await PeerTransport.start(
        transportOptions("a", {
          peers: { b: `127.0.0.1:${fake.port}` },
          onEvent: (e) => events.push(e),
          minBackoffMs: 5_000,
        }),
      );
      try {
        a.send([heartbeat("a", "b")]);
        const { proof, next } = await fake.served;
        assert.equal(proof !== undefined, proofSent);
        assert.equal(next, undefined, "the client sent frames to an unauthenticated server");
        await waitFor("the failure", () => events.some((e) => e.kind === "disconnected"), 5_000);
        const failure = events.find((e) => e.kind === "disconnected");
        assert.ok(
          failure?.kind === "disconnected" && reason.test(failure.reason),
          JSON.stringify(failure),
        );
      } finally {
        await a.close();
        fake.close();
      }
    });
  }
});

Deno.test("a mixed-version cluster fails with one clear line on each side", async () => {
  const events: PeerEvent[] = [];
  const b = await PeerTransport.start(transportOptions("b", { onEvent: (e) => events.push(e) }));
  // A v1 node dialling this one.
  const old = await stranger(b.port);
  await old.send(FrameKind.legacyHello, packFields(["test", "n-old", nonce()]));
  await old.rest();
  old.close();
  // A v1 node being dialled: it refuses a hello it does not know by closing.
  const v1 = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const v1Served = (async () => {
    const conn = await v1.accept();
    await new FrameReader(conn.readable, 4096).next();
    conn.close();
  })();
  const a = await PeerTransport.start(
    transportOptions("a", {
      peers: { old: `127.0.0.1:${v1.addr.port}` },
      onEvent: (e) => events.push(e),
      minBackoffMs: 5_000,
    }),
  );
  try {
    a.send([heartbeat("a", "old")]);
    await v1Served;
    await waitFor(
      "both lines",
      () =>
        events.some((e) => e.kind === "rejected") && events.some((e) => e.kind === "disconnected"),
      5_000,
    );
    const inbound = events.find((e) => e.kind === "rejected");
    assert.ok(inbound?.kind === "rejected" && /handshake v1, this node v2/.test(inbound.reason));
    const outbound = events.find((e) => e.kind === "disconnected");
    assert.ok(
      outbound?.kind === "disconnected" && /older release \(handshake v1\)/.test(outbound.reason),
    );
  } finally {
    await a.close();
    await b.close();
    v1.close();
  }
});

Deno.test("a recorded hello and proof replayed on a new connection are refused", async () => {
  const events: PeerEvent[] = [];
  const received: Message[] = [];
  const b = await PeerTransport.start(transportOptions("b", {
    onEvent: (e) => events.push(e),
    onMessages: (batch) => received.push(...batch),
  }));
  // An eavesdropper between a and b records a's frames.
  const recorded: Frame[] = [];
  const tap = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tapped = (async () => {
    const inbound = await tap.accept();
    const upstream = await Deno.connect({ hostname: "127.0.0.1", port: b.port });
    const reader = new FrameReader(inbound.readable, 64 * 1024);
    const back = upstream.readable.pipeTo(inbound.writable).catch(() => {});
    for (
      let frame = await reader.next();
      frame;
      frame = await reader.next().catch(() => undefined)
    ) {
      recorded.push(frame);
      await upstream.write(encodeFrame(frame.kind, frame.payload));
      if (frame.kind === FrameKind.messages) break;
    }
    return { inbound, upstream, back };
  })();
  const a = await PeerTransport.start(
    transportOptions("a", { peers: { b: `127.0.0.1:${tap.addr.port}` } }),
  );
  try {
    a.send([heartbeat("a", "b")]);
    await waitFor("the first delivery", () => received.length === 1, 5_000);
    const [hello, proof] = recorded;
    assert.deepEqual([hello.kind, proof.kind], [FrameKind.hello, FrameKind.proof]);
    const replay = await stranger(b.port);
    await replay.send(hello.kind, hello.payload);
    assert.equal((await replay.next())?.kind, FrameKind.challenge);
    await replay.send(proof.kind, proof.payload);
    const after = await replay.rest();
    assert.deepEqual(after.map((f) => decode(f.payload)), ["bad cluster secret"]);
    replay.close();
    assert.equal(received.length, 1);
  } finally {
    await a.close();
    const { inbound, upstream, back } = await tapped;
    for (const conn of [inbound, upstream]) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await back;
    tap.close();
    await b.close();
  }
});

Deno.test("a listener that never answers is given up at the dialler's deadline", async () => {
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = silent.accept();
  const events: PeerEvent[] = [];
  const a = await PeerTransport.start(transportOptions("a", {
    peers: { b: `127.0.0.1:${silent.addr.port}` },
    handshakeTimeoutMs: 200,
    minBackoffMs: 5_000,
    onEvent: (e) => events.push(e),
  }));
  try {
    a.send([heartbeat("a", "b")]);
    await waitFor("the deadline", () => events.some((e) => e.kind === "disconnected"), 3_000);
    const failure = events.find((e) => e.kind === "disconnected");
    assert.ok(
      failure?.kind === "disconnected" && /timed out after 200 ms/.test(failure.reason),
      JSON.stringify(failure),
    );
  } finally {
    await a.close();
    (await accepted).close();
    silent.close();
  }
});

// Known answers (HMAC-SHA-256 over u32-LE length-prefixed parts, computed
// outside Deno): two builds that both say "v2" must agree on every byte.
Deno.test("handshake v2 proofs are pinned by known answers", async () => {
  const key = await importSecret("a-long-enough-secret");
  const t = {
    clusterId: "c",
    clientId: "a",
    serverId: "b",
    clientNonce: new Uint8Array(32),
    serverNonce: new Uint8Array(32).fill(1),
  };
  const hex = (bytes: Uint8Array) =>
    [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  const clientProof = await prove(key, clientProofParts(t));
  assert.equal(
    hex(clientProof),
    "c25d43388fcd699a45d079a666d1dd879e917a4356f6432d1bb005015ac3c59d",
  );
  assert.equal(
    hex(await prove(key, serverProofParts(t, clientProof))),
    "bb001e85a3d28b2f24c701e418191c707ad979a1e7b29ff9f163e5500bd42aa6",
  );
});
