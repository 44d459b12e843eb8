import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeUtf8 } from "./utf8.ts";

Deno.test("property: decodeUtf8 is the strict UTF-8 decoder that keeps a leading BOM", () => {
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const reference = (bytes: Uint8Array): string | undefined => {
    try {
      return strict.decode(bytes);
    } catch {
      return undefined;
    }
  };
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ min: 0, max: 0x7f, maxLength: 200 }),
        fc.string({ unit: "binary", maxLength: 40 }).map((s) => new TextEncoder().encode(s)),
        fc.tuple(fc.string({ maxLength: 30 }), fc.nat(), fc.integer({ min: 0x80, max: 0xff }))
          .map(([s, at, byte]) => {
            const bytes = new TextEncoder().encode(s);
            if (bytes.length > 0) bytes[at % bytes.length] = byte;
            return bytes;
          }),
      ),
      (bytes) => assert.equal(decodeUtf8(bytes), reference(bytes)),
    ),
    { numRuns: 2000 },
  );
  assert.equal(decodeUtf8(new TextEncoder().encode("\ufeffkey")), "\ufeffkey");
  assert.equal(decodeUtf8(new TextEncoder().encode("a\ufffdb")), "a\ufffdb");
  assert.equal(decodeUtf8(new Uint8Array([0x61, 0xff])), undefined);
  assert.equal(decodeUtf8(new Uint8Array(40).fill(0x61).fill(0xc3, 39)), undefined);
});

Deno.test("property: decodeUtf8 of a range is decodeUtf8 of that subarray", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 40 }), fc.nat(), fc.nat(), (s, a, b) => {
      const bytes = new TextEncoder().encode(s);
      const start = a % (bytes.length + 1);
      const end = start + (b % (bytes.length - start + 1));
      assert.equal(decodeUtf8(bytes, start, end), decodeUtf8(bytes.subarray(start, end)));
    }),
    { numRuns: 500 },
  );
  assert.throws(() => decodeUtf8(new Uint8Array(3), 2, 4), RangeError);
});
