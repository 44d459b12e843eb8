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
