import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Command,
  CommandError,
  type CommandErrorCode,
  decodeCommand,
  DEFAULT_COMMAND_LIMITS,
  encodeCommand,
  isReadOnly,
  utf8ByteLength,
  validateCommand,
} from "./commands.ts";
import { arbCommand } from "./arbitraries_test.ts";

const VALID: Array<[string, Command]> = [
  ["put", { op: "put", key: "a", value: "1" }],
  ["put with lease and prevKv", { op: "put", key: "a", value: "", leaseId: 7, prevKv: true }],
  ["delete", { op: "delete", key: "a" }],
  ["delete prefix (empty: all keys)", { op: "delete", key: "", prefix: true, prevKv: true }],
  ["get", { op: "get", key: "a" }],
  ["range", { op: "range", prefix: "services/", limit: 10 }],
  ["range after a key", { op: "range", prefix: "services/", limit: 10, after: "services/a" }],
  ["txn (compare-and-swap)", {
    op: "txn",
    compare: [{ key: "a", target: "modRevision", result: "equal", value: 3 }],
    success: [{ op: "put", key: "a", value: "2" }],
    failure: [{ op: "get", key: "a" }],
  }],
  ["txn on value", {
    op: "txn",
    compare: [{ key: "a", target: "value", result: "notEqual", value: "x" }],
    success: [{ op: "delete", key: "b", prefix: true }, { op: "put", key: "a", value: "x" }],
    failure: [],
  }],
  ["leaseGrant", { op: "leaseGrant", leaseId: 1, ttlMs: 5000, nowMs: 0 }],
  ["leaseRevoke", { op: "leaseRevoke", leaseId: 1 }],
  ["leaseKeepAlive", { op: "leaseKeepAlive", leaseId: 1, nowMs: 123 }],
  ["leaseExpire", { op: "leaseExpire", leaseId: 1, term: 2, renewIndex: 9 }],
];

Deno.test("every valid command validates to itself and round-trips through bytes", async (t) => {
  for (const [name, cmd] of VALID) {
    await t.step(name, () => {
      assert.deepEqual(validateCommand(cmd), cmd);
      assert.deepEqual(decodeCommand(encodeCommand(cmd)), cmd);
    });
  }
});

Deno.test("validation canonicalizes default-valued optional fields away", () => {
  assert.deepEqual(
    validateCommand({ op: "put", key: "a", value: "v", leaseId: 0, prevKv: false }),
    { op: "put", key: "a", value: "v" },
  );
  assert.deepEqual(validateCommand({ op: "delete", key: "a", prefix: false }), {
    op: "delete",
    key: "a",
  });
  const a = encodeCommand({ value: "v", key: "k", op: "put" } as Command);
  const b = encodeCommand({ op: "put", key: "k", value: "v" });
  assert.deepEqual(a, b, "field order does not change the encoding");
});

const big = (bytes: number) => "x".repeat(bytes);

const INVALID: Array<[string, unknown, CommandErrorCode, string]> = [
  ["not an object", "put", "notAnObject", ""],
  ["null", null, "notAnObject", ""],
  ["array", [], "notAnObject", ""],
  ["no op", { key: "a" }, "missingField", "op"],
  ["unknown op", { op: "set", key: "a", value: "1" }, "unknownOp", "op"],
  ["op not a string", { op: 3 }, "unknownOp", "op"],
  ["unknown field", { op: "put", key: "a", value: "1", ttl: 3 }, "unknownField", "ttl"],
  ["missing key", { op: "put", value: "1" }, "missingField", "key"],
  ["missing value", { op: "put", key: "a" }, "missingField", "value"],
  ["key not a string", { op: "put", key: 1, value: "1" }, "wrongType", "key"],
  ["value not a string", { op: "put", key: "a", value: { x: 1 } }, "wrongType", "value"],
  ["empty key", { op: "put", key: "", value: "1" }, "emptyKey", "key"],
  ["empty key in delete", { op: "delete", key: "" }, "emptyKey", "key"],
  ["empty key in get", { op: "get", key: "" }, "emptyKey", "key"],
  ["lone surrogate", { op: "put", key: "a\ud800", value: "1" }, "malformedString", "key"],
  ["key too large", { op: "put", key: big(4097), value: "" }, "keyTooLarge", "key"],
  [
    "key too large in UTF-8",
    { op: "get", key: "é".repeat(2049) },
    "keyTooLarge",
    "key",
  ],
  [
    "value too large",
    { op: "put", key: "a", value: big(1024 * 1024 + 1) },
    "valueTooLarge",
    "value",
  ],
  ["prevKv not boolean", { op: "put", key: "a", value: "", prevKv: 1 }, "wrongType", "prevKv"],
  ["negative lease", { op: "put", key: "a", value: "", leaseId: -1 }, "outOfRange", "leaseId"],
  ["fractional lease", { op: "put", key: "a", value: "", leaseId: 1.5 }, "wrongType", "leaseId"],
  ["range limit 0", { op: "range", prefix: "", limit: 0 }, "outOfRange", "limit"],
  ["range limit too big", { op: "range", prefix: "", limit: 10_001 }, "outOfRange", "limit"],
  ["range limit missing", { op: "range", prefix: "" }, "missingField", "limit"],
  ["range after empty", { op: "range", prefix: "", limit: 1, after: "" }, "emptyKey", "after"],
  [
    "range after not a string",
    { op: "range", prefix: "", limit: 1, after: 3 },
    "wrongType",
    "after",
  ],
  ["grant lease 0", { op: "leaseGrant", leaseId: 0, ttlMs: 1, nowMs: 0 }, "outOfRange", "leaseId"],
  ["grant ttl 0", { op: "leaseGrant", leaseId: 1, ttlMs: 0, nowMs: 0 }, "outOfRange", "ttlMs"],
  ["grant ttl NaN", { op: "leaseGrant", leaseId: 1, ttlMs: NaN, nowMs: 0 }, "wrongType", "ttlMs"],
  ["grant no nowMs", { op: "leaseGrant", leaseId: 1, ttlMs: 1 }, "missingField", "nowMs"],
  [
    "keepAlive negative now",
    { op: "leaseKeepAlive", leaseId: 1, nowMs: -1 },
    "outOfRange",
    "nowMs",
  ],
  ["revoke unsafe id", { op: "leaseRevoke", leaseId: 2 ** 53 }, "outOfRange", "leaseId"],
  [
    "expire term 0",
    { op: "leaseExpire", leaseId: 1, term: 0, renewIndex: 1 },
    "outOfRange",
    "term",
  ],
  ["expire no token", { op: "leaseExpire", leaseId: 1, term: 1 }, "missingField", "renewIndex"],
  ["txn missing branch", { op: "txn", compare: [], success: [] }, "missingField", "failure"],
  [
    "txn branch not array",
    { op: "txn", compare: [], success: {}, failure: [] },
    "wrongType",
    "success",
  ],
  [
    "txn nested range",
    { op: "txn", compare: [], success: [{ op: "range", prefix: "", limit: 1 }], failure: [] },
    "wrongType",
    "success[0].op",
  ],
  [
    "txn nested bad key",
    { op: "txn", compare: [], success: [], failure: [{ op: "get", key: 5 }] },
    "wrongType",
    "failure[0].key",
  ],
  [
    "txn bad compare target",
    {
      op: "txn",
      compare: [{ key: "a", target: "lease", result: "equal", value: 1 }],
      success: [],
      failure: [],
    },
    "wrongType",
    "compare[0].target",
  ],
  [
    "txn numeric compare with string",
    {
      op: "txn",
      compare: [{ key: "a", target: "version", result: "equal", value: "1" }],
      success: [],
      failure: [],
    },
    "wrongType",
    "compare[0].value",
  ],
  [
    "txn value compare with number",
    {
      op: "txn",
      compare: [{ key: "a", target: "value", result: "less", value: 1 }],
      success: [],
      failure: [],
    },
    "wrongType",
    "compare[0].value",
  ],
  [
    "txn duplicate put",
    {
      op: "txn",
      compare: [],
      success: [{ op: "put", key: "a", value: "1" }, { op: "put", key: "a", value: "2" }],
      failure: [],
    },
    "duplicateKey",
    "success[1].key",
  ],
  [
    "txn delete overlapping a put",
    {
      op: "txn",
      compare: [],
      success: [{ op: "put", key: "ab", value: "1" }, { op: "delete", key: "a", prefix: true }],
      failure: [],
    },
    "duplicateKey",
    "success[1].key",
  ],
  [
    "txn too many ops",
    { op: "txn", compare: [], success: Array(129).fill({ op: "get", key: "a" }), failure: [] },
    "tooManyOps",
    "success",
  ],
  [
    "command too large",
    {
      op: "txn",
      compare: [],
      success: [0, 1, 2].map((i) => ({ op: "put", key: `k${i}`, value: big(1024 * 1024) })),
      failure: [],
    },
    "commandTooLarge",
    "",
  ],
];

Deno.test("invalid commands are refused with a typed error naming the field", async (t) => {
  for (const [name, raw, code, field] of INVALID) {
    await t.step(name, () => {
      assert.throws(() => validateCommand(raw), (error: unknown) => {
        assert.ok(error instanceof CommandError, `expected CommandError, got ${error}`);
        assert.equal(error.code, code);
        assert.equal(error.field, field);
        if (field !== "") {
          assert.match(error.message, new RegExp(`"${field.replace(/[[\]]/g, "\\$&")}"`));
        }
        return true;
      });
    });
  }
});

Deno.test("limits are configurable", () => {
  const limits = { ...DEFAULT_COMMAND_LIMITS, maxKeyBytes: 3, maxValueBytes: 2 };
  assert.deepEqual(validateCommand({ op: "put", key: "abc", value: "xy" }, limits), {
    op: "put",
    key: "abc",
    value: "xy",
  });
  assert.throws(() => validateCommand({ op: "put", key: "abcd", value: "" }, limits), CommandError);
  assert.throws(() => validateCommand({ op: "put", key: "a", value: "xyz" }, limits), CommandError);
});

Deno.test("decodeCommand refuses bytes that are not an encoded command", async (t) => {
  const cases: Array<[string, Uint8Array, CommandErrorCode]> = [
    ["empty", new Uint8Array(0), "undecodable"],
    ["unknown format byte", new Uint8Array([9, 123, 125]), "undecodable"],
    ["not JSON", new Uint8Array([1, 123]), "undecodable"],
    ["invalid UTF-8", new Uint8Array([1, 0xff, 0xfe]), "undecodable"],
    ["valid JSON, invalid command", new TextEncoder().encode('\x01{"op":"nope"}'), "unknownOp"],
  ];
  for (const [name, bytes, code] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => decodeCommand(bytes),
        (e: unknown) => e instanceof CommandError && e.code === code,
      );
    });
  }
});

Deno.test("utf8ByteLength agrees with TextEncoder on well-formed strings", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 40 }), (s) => {
      assert.equal(utf8ByteLength(s), new TextEncoder().encode(s).length);
    }),
    { numRuns: 300 },
  );
});

Deno.test("generated commands survive encode → decode unchanged", () => {
  fc.assert(
    fc.property(arbCommand(), (cmd) => {
      const canonical = validateCommand(cmd);
      assert.deepEqual(decodeCommand(encodeCommand(cmd)), canonical);
      assert.deepEqual(encodeCommand(canonical), encodeCommand(cmd));
    }),
    { numRuns: 300 },
  );
});

Deno.test("isReadOnly is true exactly for reads", () => {
  assert.equal(isReadOnly({ op: "get", key: "a" }), true);
  assert.equal(isReadOnly({ op: "range", prefix: "", limit: 1 }), true);
  assert.equal(
    isReadOnly({ op: "txn", compare: [], success: [{ op: "get", key: "a" }], failure: [] }),
    true,
  );
  assert.equal(
    isReadOnly({ op: "txn", compare: [], success: [], failure: [{ op: "delete", key: "a" }] }),
    false,
  );
  assert.equal(isReadOnly({ op: "leaseKeepAlive", leaseId: 1, nowMs: 0 }), false);
});
