import assert from "node:assert/strict";
import fc from "fast-check";
import { arbCommands } from "./arbitraries_test.ts";
import type { ByteSource } from "./bytes.ts";
import { KvStore } from "./kv.ts";
import { SnapshotError } from "./snapshot.ts";

/** A source that yields `bytes` at most `pieceBytes` at a time. */
function sourceOf(bytes: Uint8Array, pieceBytes: number): ByteSource {
  let at = 0;
  return (into) => {
    const n = Math.min(pieceBytes, into.length, bytes.length - at);
    into.set(bytes.subarray(at, at + n));
    at += n;
    return n;
  };
}

function storeWith(...commands: Parameters<KvStore["apply"]>[1][]): KvStore {
  const store = new KvStore();
  for (const command of commands) store.apply(store.appliedIndex + 1, command);
  return store;
}

function refusal(bytes: Uint8Array, verifyChecksum = true): SnapshotError {
  try {
    KvStore.restoreStream(sourceOf(bytes, 3), { verifyChecksum });
  } catch (error) {
    assert.ok(error instanceof SnapshotError, `${error}`);
    return error;
  }
  assert.fail("the snapshot was accepted");
}

Deno.test("property: a snapshot restored from a stream in any pieces equals restore()", () => {
  fc.assert(
    fc.property(
      arbCommands(40),
      fc.integer({ min: 1, max: 9 }),
      fc.boolean(),
      (commands, pieceBytes, verifyChecksum) => {
        const store = new KvStore({ historyLimitEvents: 16 });
        for (const command of commands) store.apply(store.appliedIndex + 1, command);
        const bytes = store.snapshot();
        const copy = KvStore.restoreStream(sourceOf(bytes, pieceBytes), { verifyChecksum });
        assert.deepEqual(copy.snapshot(), bytes);
        assert.deepEqual(copy.range("", 1000).kvs, KvStore.restore(bytes).range("", 1000).kvs);
      },
    ),
  );
});

Deno.test("restoreStream", async (t) => {
  await t.step("keeps non-ASCII keys and values, short and long, and a leading BOM", () => {
    const long = "ключ-".repeat(40) + "🙂";
    const store = storeWith(
      { op: "put", key: "é", value: "ü" },
      { op: "put", key: "\ufeffk", value: "\ufeffv" },
      { op: "put", key: long, value: long + "x".repeat(300) },
      { op: "put", key: "ascii", value: "v".repeat(256) },
    );
    const copy = KvStore.restoreStream(sourceOf(store.snapshot(), 5));
    assert.equal(copy.get("é")?.value, "ü");
    assert.equal(copy.get("\ufeffk")?.value, "\ufeffv");
    assert.equal(copy.get(long)?.value, long + "x".repeat(300));
    assert.equal(copy.get("ascii")?.value, "v".repeat(256));
    assert.deepEqual(copy.snapshot(), store.snapshot());
  });
  await t.step("reads a value larger than its buffer", () => {
    const big = "b".repeat(9 * 1024 * 1024);
    const store = storeWith({ op: "put", key: "a", value: "1" }, {
      op: "put",
      key: "big",
      value: big,
    });
    const copy = KvStore.restoreStream(sourceOf(store.snapshot(), 1 << 20));
    assert.equal(copy.get("big")?.value.length, big.length);
    assert.deepEqual(copy.snapshot(), store.snapshot());
  });
  const bytes = storeWith(
    { op: "put", key: "a", value: "1" },
    { op: "put", key: "b", value: "2" },
  ).snapshot();
  /** The snapshot with record "a"'s value "1" turned into "7": well-formed, so only its checksum tells. */
  const damagedValue = () => {
    const damaged = bytes.slice();
    // Magic, six header numbers, the key count, then the key's length and key, the value's length.
    const valueAt = 4 + 6 * 8 + 4 + 4 + 1 + 4;
    assert.equal(damaged[valueAt], "1".charCodeAt(0));
    damaged[valueAt] = "7".charCodeAt(0);
    return damaged;
  };
  await t.step("refuses an empty or cut stream as truncated", () => {
    assert.equal(refusal(new Uint8Array(0)).reason, "truncated");
    assert.equal(refusal(bytes.subarray(0, bytes.length - 2)).reason, "truncated");
    assert.equal(refusal(bytes.subarray(0, 30)).reason, "truncated");
  });
  await t.step("refuses another format, a damaged value and trailing bytes", () => {
    const other = bytes.slice();
    other[3] = 0x01;
    assert.equal(refusal(other).reason, "badMagic");
    assert.equal(refusal(damagedValue()).reason, "checksum");
    const trailing = new Uint8Array(bytes.length + 1);
    trailing.set(bytes);
    assert.equal(refusal(trailing).reason, "malformed");
  });
  await t.step("without its own checksum check, a damaged value passes (the caller checks)", () => {
    const copy = KvStore.restoreStream(sourceOf(damagedValue(), 7), { verifyChecksum: false });
    assert.equal(copy.get("a")?.value, "7");
  });
  await t.step("refuses a source that reports more bytes than it had room for", () => {
    assert.throws(() => KvStore.restoreStream((into) => into.length + 1), RangeError);
  });
});
