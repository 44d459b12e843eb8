import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteReader, ByteReadError, ByteWriter } from "./bytes.ts";

type Item = { kind: "u8"; v: number } | { kind: "u32"; v: number } | { kind: "f64"; v: number } | {
  kind: "string";
  v: string;
} | { kind: "raw"; v: Uint8Array };

const arbItem: fc.Arbitrary<Item> = fc.oneof(
  fc.record({ kind: fc.constant("u8" as const), v: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("u32" as const), v: fc.integer({ min: 0, max: 2 ** 32 - 1 }) }),
  fc.record({ kind: fc.constant("f64" as const), v: fc.maxSafeInteger() }),
  fc.record({
    kind: fc.constant("string" as const),
    v: fc.string({ unit: "grapheme", maxLength: 30 }),
  }),
  fc.record({ kind: fc.constant("raw" as const), v: fc.uint8Array({ maxLength: 40 }) }),
);

Deno.test("property: whatever is written reads back, across every buffer growth", () => {
  fc.assert(
    fc.property(
      fc.array(arbItem, { maxLength: 80 }),
      fc.integer({ min: 1, max: 64 }),
      (items, capacity) => {
        const w = new ByteWriter(capacity);
        for (const item of items) {
          if (item.kind === "string") w.string(item.v);
          else if (item.kind === "raw") w.raw(item.v);
          else w[item.kind](item.v);
        }
        const r = new ByteReader(w.view());
        for (const item of items) {
          if (item.kind === "string") assert.equal(r.string("s"), item.v);
          else if (item.kind === "raw") assert.deepEqual(r.raw(item.v.length, "raw"), item.v);
          else assert.equal(r[item.kind]("n"), item.v);
        }
        assert.equal(r.remaining, 0);
        assert.equal(w.length, w.view().length);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("reading past the end or invalid UTF-8 is a ByteReadError naming the field", () => {
  const r = new ByteReader(new Uint8Array([5, 0, 0, 0, 0xff]));
  assert.throws(
    () => r.f64("revision"),
    (e: unknown) => e instanceof ByteReadError && /revision/.test(e.message),
  );
  assert.throws(
    () => new ByteReader(new Uint8Array([1, 0, 0, 0, 0xff])).string("key"),
    /key is not valid UTF-8/,
  );
  assert.throws(() => r.string("value"), /value needs 5 bytes/);
});

Deno.test("property: a string is its UTF-8 byte length (u32 LE) then exactly TextEncoder's bytes", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.string()), {
        maxLength: 8,
      }),
      fc.integer({ min: 1, max: 64 }),
      (texts, capacity) => {
        const w = new ByteWriter(capacity);
        for (const text of texts) w.string(text);
        const expected: number[] = [];
        for (const text of texts) {
          const bytes = new TextEncoder().encode(text);
          const n = bytes.length;
          expected.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24, ...bytes);
        }
        assert.deepEqual(w.view(), new Uint8Array(expected));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("a string starting with a byte-order mark reads back whole", () => {
  const w = new ByteWriter();
  w.string("\ufeffabc");
  assert.equal(new ByteReader(w.view()).string("key"), "\ufeffabc");
});

Deno.test("repeat copies bytes already written; take hands over exactly what was written", () => {
  const w = new ByteWriter(16);
  w.u32(3);
  w.string("abc");
  w.repeat(4, 7);
  assert.equal(w.u32At(4), 3);
  assert.throws(() => w.repeat(10, 9), RangeError);
  assert.throws(() => w.u32At(16), RangeError);
  const expected = [3, 0, 0, 0, 3, 0, 0, 0, 0x61, 0x62, 0x63, 3, 0, 0, 0, 0x61, 0x62, 0x63];
  assert.deepEqual(w.take(), new Uint8Array(expected));
  const exact = new ByteWriter(16);
  for (let i = 0; i < 16; i++) exact.u8(i);
  assert.equal(exact.take().length, 16);
});

Deno.test("a long string filling an exactly sized writer is written in place, without growing", () => {
  for (const text of ["v".repeat(256), "é".repeat(100) + "x".repeat(60)]) {
    const sizeBytes = 4 + new TextEncoder().encode(text).length;
    const w = new ByteWriter(sizeBytes);
    w.string(text);
    const bytes = w.take();
    // Handed over as is: the buffer never grew, so it needed no trimming copy.
    assert.equal(bytes.buffer, w.view().buffer);
    assert.equal(bytes.length, sizeBytes);
    assert.equal(new ByteReader(bytes).string("text"), text);
  }
  // Room for only part of the text: it grows, and what was encoded partially is rewritten.
  const w = new ByteWriter(64);
  w.string("é".repeat(40));
  w.u8(7);
  const r = new ByteReader(w.take());
  assert.equal(r.string("text"), "é".repeat(40));
  assert.equal(r.u8("tail"), 7);
});
