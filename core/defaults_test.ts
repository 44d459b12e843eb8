import assert from "node:assert/strict";
import { withDefaults } from "./defaults.ts";

Deno.test("withDefaults: an undefined option keeps its default", () => {
  const merged = withDefaults({ sizeBytes: 64, limit: 3 }, { sizeBytes: undefined, limit: 5 });
  assert.deepStrictEqual(merged, { sizeBytes: 64, limit: 5 });
});

Deno.test("withDefaults: defined falsy values (0, false, empty string) override", () => {
  const merged = withDefaults({ count: 7, on: true, name: "x" }, { count: 0, on: false, name: "" });
  assert.deepStrictEqual(merged, { count: 0, on: false, name: "" });
});

Deno.test("withDefaults: fields without a default are copied, missing options give the defaults", () => {
  assert.deepStrictEqual(withDefaults({ a: 1 }, { b: "two", c: undefined }), { a: 1, b: "two" });
  assert.deepStrictEqual(withDefaults({ a: 1 }, undefined), { a: 1 });
});

Deno.test("withDefaults: the defaults object is not modified", () => {
  const defaults = Object.freeze({ a: 1 });
  withDefaults(defaults, { a: 2 });
  assert.deepStrictEqual(defaults, { a: 1 });
});
