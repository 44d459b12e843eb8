import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeEnvelope, encodeEnvelope, ENVELOPE_HEADER_BYTES } from "./envelope.ts";

Deno.test("envelope round-trips origin, sequence and command", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      fc.uint8Array({ maxLength: 64 }),
      (nonce, seq, command) => {
        const bytes = encodeEnvelope(nonce, seq, command);
        assert.equal(bytes.length, ENVELOPE_HEADER_BYTES + command.length);
        const e = decodeEnvelope(bytes);
        assert.equal(e.originNonce, nonce);
        assert.equal(e.proposalSeq, seq);
        assert.deepEqual(e.command, command);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("a malformed envelope throws", () => {
  assert.throws(() => decodeEnvelope(new Uint8Array(3)), RangeError);
  const bytes = encodeEnvelope(1, 1, new Uint8Array());
  bytes[0] = 9;
  assert.throws(() => decodeEnvelope(bytes), RangeError);
});

Deno.test("envelopes cut from a shared slab stay independent of each other", () => {
  const envelopes: Uint8Array[] = [];
  // Enough to fill several slabs, with sizes that do not divide a slab evenly.
  for (let i = 0; i < 3000; i++) {
    envelopes.push(encodeEnvelope(i, i * 1.5, new Uint8Array(i % 97).fill(i & 0xff)));
  }
  envelopes.push(encodeEnvelope(7, 8, new Uint8Array(10_000).fill(3)));
  envelopes.forEach((data, i) => {
    const e = decodeEnvelope(data);
    if (i === 3000) {
      assert.equal(e.command.length, 10_000);
      return;
    }
    assert.equal(e.originNonce, i);
    assert.equal(e.proposalSeq, i * 1.5);
    assert.deepEqual(e.command, new Uint8Array(i % 97).fill(i & 0xff));
  });
});
