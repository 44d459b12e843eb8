import assert from "node:assert/strict";
import type { Message } from "@safla/core";
import { type PeerEvent, PeerTransport, type PeerTransportOptions } from "./peer_transport.ts";
import { loadPeerTls } from "./peer_tls.ts";
import { makeTestPki, type TestPki } from "./tls_testing.ts";
import { waitFor } from "../host/testing.ts";
import { heartbeat, transportOptions } from "./testing.ts";

/** Test transports, reconnecting quickly after a refused TLS handshake. */
function options(
  nodeId: string,
  overrides: Partial<PeerTransportOptions> = {},
): PeerTransportOptions {
  return transportOptions(nodeId, { minBackoffMs: 20, ...overrides });
}

let dir: string;
let cluster: TestPki;
let other: TestPki;

Deno.test({
  name: "peer TLS",
  fn: async (t) => {
    dir = await Deno.makeTempDir({ prefix: "safla-peer-tls-" });
    try {
      cluster = await makeTestPki(dir, "cluster-ca", ["a", "b"]);
      other = await makeTestPki(dir, "other-ca", ["x"]);

      await t.step("two nodes with mutual TLS exchange messages", async () => {
        const received: Message[] = [];
        const b = await PeerTransport.start(options("b", {
          tls: await cluster.load("b", true),
          onMessages: (batch) => received.push(...batch),
        }));
        const a = await PeerTransport.start(options("a", {
          tls: await cluster.load("a", true),
          peers: { b: `127.0.0.1:${b.port}` },
        }));
        try {
          for (let i = 1; i <= 100; i++) a.send([heartbeat("a", "b", i)]);
          await waitFor("100 messages over TLS", () => received.length === 100, 5_000);
          assert.deepEqual(
            received.map((m) => m.commit),
            Array.from({ length: 100 }, (_, i) => i + 1),
          );
          assert.equal(b.inboundStats().authenticated, 1);
        } finally {
          await a.close();
          await b.close();
        }
      });

      await t.step(
        "a node whose certificate another CA signed cannot join, either way",
        async () => {
          const events: PeerEvent[] = [];
          const received: Message[] = [];
          const b = await PeerTransport.start(options("b", {
            tls: await cluster.load("b", true),
            onMessages: (batch) => received.push(...batch),
            onEvent: (e) => events.push(e),
          }));
          const xEvents: PeerEvent[] = [];
          // x even holds the secret: the certificate alone keeps it out.
          const x = await PeerTransport.start(options("x", {
            tls: await other.load("x", true),
            peers: { b: `127.0.0.1:${b.port}` },
            onEvent: (e) => xEvents.push(e),
          }));
          const bDialsX = await PeerTransport.start(options("b2", {
            tls: await cluster.load("b", true),
            peers: { x: `127.0.0.1:${x.port}` },
            onEvent: (e) => events.push(e),
          }));
          try {
            x.send([heartbeat("x", "b", 1)]);
            bDialsX.send([heartbeat("b2", "x", 1)]);
            await waitFor("both refusals", () =>
              xEvents.some((e) => e.kind === "disconnected") &&
              events.some((e) => e.kind === "disconnected" && e.peer === "x"), 5_000);
            const xSide = xEvents.find((e) => e.kind === "disconnected");
            assert.ok(
              xSide?.kind === "disconnected" && /TLS/.test(xSide.reason),
              JSON.stringify(xSide),
            );
            const bSide = events.find((e) => e.kind === "disconnected" && e.peer === "x");
            assert.ok(
              bSide?.kind === "disconnected" && /TLS/.test(bSide.reason),
              JSON.stringify(bSide),
            );
            assert.equal(received.length, 0);
            assert.equal(b.inboundStats().authenticated, 0);
          } finally {
            await x.close();
            await bDialsX.close();
            await b.close();
          }
        },
      );

      await t.step("with mutual TLS a dialler without a certificate is refused", async () => {
        const events: PeerEvent[] = [];
        const b = await PeerTransport.start(options("b", {
          tls: await cluster.load("b", true),
          onEvent: (e) => events.push(e),
        }));
        try {
          const ca = await Deno.readTextFile(cluster.files("b").caFile);
          const conn = await Deno.connectTls({
            hostname: "127.0.0.1",
            port: b.port,
            caCerts: [ca],
          });
          const failed = await conn.handshake().then(() => conn.read(new Uint8Array(16))).then(
            (n) => n === null,
            () => true,
          );
          try {
            conn.close();
          } catch { /* closed by the server */ }
          assert.ok(failed, "a certificate-less dialler got through the TLS handshake");
          await waitFor("the rejection", () => events.some((e) => e.kind === "rejected"), 5_000);
          const rejection = events.find((e) => e.kind === "rejected");
          assert.ok(
            rejection?.kind === "rejected" && /TLS handshake failed/.test(rejection.reason),
            JSON.stringify(rejection),
          );
        } finally {
          await b.close();
        }
      });

      await t.step("a plain-TCP dialler is refused by a TLS listener, and says why", async () => {
        const events: PeerEvent[] = [];
        const b = await PeerTransport.start(options("b", { tls: await cluster.load("b") }));
        const a = await PeerTransport.start(options("a", {
          peers: { b: `127.0.0.1:${b.port}` },
          onEvent: (e) => events.push(e),
        }));
        try {
          a.send([heartbeat("a", "b", 1)]);
          await waitFor("the refusal", () => events.some((e) => e.kind === "disconnected"), 5_000);
          const refusal = events.find((e) => e.kind === "disconnected");
          assert.ok(
            refusal?.kind === "disconnected" && /answered with TLS/.test(refusal.reason),
            JSON.stringify(refusal),
          );
        } finally {
          await a.close();
          await b.close();
        }
      });

      await t.step(
        "a TLS dialler is refused by a plain listener, and the log says why",
        async () => {
          const events: PeerEvent[] = [];
          const b = await PeerTransport.start(options("b", { onEvent: (e) => events.push(e) }));
          const a = await PeerTransport.start(options("a", {
            tls: await cluster.load("a"),
            peers: { b: `127.0.0.1:${b.port}` },
          }));
          try {
            a.send([heartbeat("a", "b", 1)]);
            await waitFor("the rejection", () => events.some((e) => e.kind === "rejected"), 5_000);
            const rejection = events.find((e) => e.kind === "rejected");
            assert.ok(
              rejection?.kind === "rejected" && /speaks TLS/.test(rejection.reason),
              JSON.stringify(rejection),
            );
          } finally {
            await a.close();
            await b.close();
          }
        },
      );

      await t.step(
        "a connection stuck in the TLS handshake counts against the deadline and the cap",
        async () => {
          const events: PeerEvent[] = [];
          const b = await PeerTransport.start(options("b", {
            tls: await cluster.load("b", true),
            handshakeTimeoutMs: 300,
            maxUnauthenticated: 2,
            onEvent: (e) => events.push(e),
          }));
          const idle: Deno.Conn[] = [];
          try {
            for (let i = 0; i < 3; i++) {
              idle.push(await Deno.connect({ hostname: "127.0.0.1", port: b.port }));
            }
            await waitFor("one eviction", () => b.inboundStats().evicted === 1, 2_000);
            assert.ok(b.inboundStats().unauthenticated <= 2);
            await waitFor("the deadline", () => b.inboundStats().unauthenticated === 0, 3_000);
          } finally {
            for (const conn of idle) {
              try {
                conn.close();
              } catch { /* closed by the server */ }
            }
            await b.close();
          }
        },
      );

      await t.step("a listener that never completes TLS is given up at the deadline", async () => {
        const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const accepted = silent.accept();
        const events: PeerEvent[] = [];
        const a = await PeerTransport.start(options("a", {
          tls: await cluster.load("a"),
          peers: { b: `127.0.0.1:${silent.addr.port}` },
          handshakeTimeoutMs: 200,
          minBackoffMs: 5_000,
          onEvent: (e) => events.push(e),
        }));
        try {
          a.send([heartbeat("a", "b", 1)]);
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

      await t.step("a busy port is reported as a plain listener reports it", async () => {
        const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        try {
          await assert.rejects(
            PeerTransport.start(
              options("a", { port: busy.addr.port, tls: await cluster.load("a") }),
            ),
            Deno.errors.AddrInUse,
          );
        } finally {
          busy.close();
        }
      });

      await t.step("a missing or non-PEM file is named", async () => {
        const files = cluster.files("a");
        await assert.rejects(
          loadPeerTls({ ...files, caFile: `${dir}/missing.crt` }),
          /cannot read the CA certificate .*missing\.crt/,
        );
        await assert.rejects(
          loadPeerTls({ ...files, keyFile: files.certFile }),
          /holds no PEM private key/,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
