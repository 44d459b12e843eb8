import assert from "node:assert/strict";
import fc from "fast-check";
import { crc32c, crc32cRange } from "./crc32.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("crc32c matches the published check values", () => {
  assert.equal(crc32c(text("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
});

Deno.test("crc32c over pieces equals crc32c over the whole", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
      const whole = new Uint8Array([...a, ...b]);
      assert.equal(crc32c(b, crc32c(a)), crc32c(whole));
    }),
    { numRuns: 200 },
  );
});

Deno.test("crc32c detects every single-bit flip", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.nat(), (bytes, bit) => {
      const flipped = bytes.slice();
      const at = bit % (bytes.length * 8);
      flipped[at >> 3] ^= 1 << (at & 7);
      assert.notEqual(crc32c(flipped), crc32c(bytes));
    }),
    { numRuns: 200 },
  );
});

/** The textbook bit-at-a-time CRC-32C, as an independent reference. */
function bitwiseCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

Deno.test("crc32c agrees with the bit-at-a-time reference at every length and alignment", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat({ max: 7 }), (bytes, skip) => {
      const view = bytes.subarray(Math.min(skip, bytes.length));
      assert.equal(crc32c(view), bitwiseCrc32c(view));
    }),
    { numRuns: 300 },
  );
});

Deno.test("crc32cRange over a range equals crc32c over the same subarray", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 64 }),
      fc.nat(),
      fc.nat(),
      fc.nat(),
      (bytes, a, b, previous) => {
        const start = a % (bytes.length + 1);
        const end = start + (b % (bytes.length - start + 1));
        assert.equal(
          crc32cRange(bytes, start, end, previous),
          crc32c(bytes.subarray(start, end), previous),
        );
      },
    ),
    { numRuns: 300 },
  );
  assert.throws(() => crc32cRange(new Uint8Array(4), 2, 5), RangeError);
  assert.throws(() => crc32cRange(new Uint8Array(4), 3, 2), RangeError);
});

Deno.test("crc32c of long, unaligned ranges (read as words) equals the byte-wise definition", () => {
  const bytewise = (bytes: Uint8Array, previous: number) => {
    let crc = ~previous >>> 0;
    for (const b of bytes) {
      crc ^= b;
      for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
    }
    return ~crc >>> 0;
  };
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 250, maxLength: 700 }),
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0, max: 7 }),
      fc.nat(),
      (bytes, head, tail, previous) => {
        const range = bytes.subarray(head, bytes.length - tail);
        assert.equal(crc32c(range, previous), bytewise(range, previous));
        assert.equal(
          crc32cRange(bytes, head, bytes.length - tail, previous),
          bytewise(range, previous),
        );
      },
    ),
    { numRuns: 300 },
  );
});
