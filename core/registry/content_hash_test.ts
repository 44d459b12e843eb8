import assert from "node:assert/strict";
import fc from "fast-check";
import {
  canonicalJson,
  CanonicalJsonError,
  contentHash,
  fnv1a64,
  MAX_JSON_DEPTH,
} from "./content_hash.ts";

// Straightforward BigInt FNV-1a 64, an independent reference for the split-half arithmetic.
function referenceFnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

Deno.test("fnv1a64", async (t) => {
  await t.step("published test vectors", () => {
    assert.equal(fnv1a64(""), "cbf29ce484222325");
    assert.equal(fnv1a64("a"), "af63dc4c8601ec8c");
    assert.equal(fnv1a64("foobar"), "85944171f73967e8");
  });
  await t.step("hashes the UTF-8 bytes of a string", () => {
    assert.equal(fnv1a64("日本😀"), fnv1a64(new TextEncoder().encode("日本😀")));
  });
  await t.step("agrees with a BigInt reference on any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 64 }), (s) => {
        assert.equal(fnv1a64(s), referenceFnv1a64(s));
      }),
      { numRuns: 150 },
    );
  });
});

Deno.test("canonicalJson", async (t) => {
  await t.step("sorts keys at every depth and drops undefined properties", () => {
    assert.equal(
      canonicalJson({ z: { b: 1, a: [2, { d: 1, c: null }] }, y: undefined, a: "x" }),
      '{"a":"x","z":{"a":[2,{"c":null,"d":1}],"b":1}}',
    );
  });
  await t.step("rejects values JSON cannot carry, naming the path", () => {
    for (
      const [value, path] of [[{ a: [1, NaN] }, "a.1"], [{ f: () => 1 }, "f"], [{ b: 1n }, "b"]]
    ) {
      assert.throws(() => canonicalJson(value), (e: unknown) => {
        assert.ok(e instanceof CanonicalJsonError);
        assert.equal(e.path, path);
        return true;
      });
    }
  });
  await t.step("bounds nesting depth", () => {
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_JSON_DEPTH; i++) deep = [deep];
    assert.throws(() => canonicalJson(deep), CanonicalJsonError);
  });
  await t.step("parses back to the same value and is stable across JSON round trips", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        const text = canonicalJson(v);
        assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(v)));
        assert.equal(canonicalJson(JSON.parse(JSON.stringify(v))), text);
        assert.equal(contentHash(JSON.parse(text)), contentHash(v));
      }),
      { numRuns: 200 },
    );
  });
  await t.step("ignores key insertion order", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        assert.equal(canonicalJson(reversed), canonicalJson(obj));
      }),
      { numRuns: 200 },
    );
  });
});
