import assert from "node:assert/strict";
import { packFields } from "@safla/transports/peer/auth";
import { encodeFrame, FrameKind, FrameReader } from "@safla/transports/peer/frames";
import { freePort } from "@safla/transports/host/testing";
import { PartitionRelay } from "./partition_relay.ts";

/** A relay to one listener whose upstream dials wait for `release()`. */
async function gatedRelay() {
  const target = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  const dialling = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const relay = PartitionRelay.start(
    { n1: "127.0.0.1:1", n2: `127.0.0.1:${target.addr.port}` },
    async (hostname, port) => {
      dialling.resolve();
      await gate.promise;
      return Deno.connect({ hostname, port });
    },
  );
  const [host, port] = relay.address("n2").split(":");
  const client = await Deno.connect({ hostname: host, port: Number(port) });
  const hello = packFields(["2", "test", "n1", "n2", new Uint8Array(32)]);
  await client.write(encodeFrame(FrameKind.hello, hello));
  await dialling.promise;
  return { target, relay, client, release: () => gate.resolve() };
}

/**
 * Reads the next frame: `null` when the peer closed the connection, "open"
 * when nothing arrived within 2 s and the connection is still up.
 */
async function nextFrame(conn: Deno.Conn) {
  const reader = new FrameReader(conn.readable, 64 * 1024);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const quiet = new Promise<"open">((resolve) => timer = setTimeout(() => resolve("open"), 2_000));
  try {
    return await Promise.race([reader.next().then((f) => f ?? null, () => null), quiet]);
  } finally {
    clearTimeout(timer);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* the read side's end already closed it */ }
}

Deno.test("partition relay: a link cut while its connection is being dialled stays cut", async (t) => {
  await t.step(
    "cut mid-dial: the dialler's connection is closed and nothing reaches the target",
    async () => {
      const { target, relay, client, release } = await gatedRelay();
      relay.cut("n1", "n2");
      release();
      assert.equal(await nextFrame(client), null);
      // The relay hung up on the target too: an accepted connection ends without a frame.
      const accepted = await target.accept();
      assert.equal(await nextFrame(accepted), null);
      closeQuietly(accepted);
      target.close();
      await relay.close();
    },
  );

  await t.step("not cut: the hello is forwarded to the target", async () => {
    const { target, relay, client, release } = await gatedRelay();
    release();
    const accepted = await target.accept();
    const frame = await nextFrame(accepted);
    assert.ok(frame !== null && frame !== "open", `no frame reached the target: ${frame}`);
    assert.equal(frame.kind, FrameKind.hello);
    closeQuietly(client);
    closeQuietly(accepted);
    target.close();
    await relay.close();
  });
});
