import assert from "node:assert/strict";
import fc from "fast-check";
import type { ConfChange, ConfChangeSingle } from "../types.ts";
import {
  confChangesFromString,
  confChangesToString,
  decodeConfChange,
  encodeConfChange,
  enterJoint,
  leaveJoint,
  MAX_CONF_CHANGES,
  MAX_NODE_ID_BYTES,
  validateConfChange,
} from "./conf_change.ts";
import { ConfChangeError } from "./errors.ts";

const arbChange: fc.Arbitrary<ConfChangeSingle> = fc.record({
  type: fc.constantFrom("addNode" as const, "addLearner" as const, "removeNode" as const),
  nodeId: fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" }),
});

const arbConfChange: fc.Arbitrary<ConfChange> = fc.record(
  {
    transition: fc.constantFrom("auto" as const, "implicit" as const, "explicit" as const),
    changes: fc.array(arbChange, { maxLength: 6 }),
    context: fc.uint8Array({ maxLength: 16 }),
  },
  { requiredKeys: ["transition", "changes"] },
).map((cc) => ({ ...cc, changes: cc.changes.map((change) => ({ ...change })) }));

function throwsConfChangeError(run: () => unknown, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ConfChangeError, `${error}`);
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("encode/decode round-trips examples", async (t) => {
  const table: Array<[string, ConfChange]> = [
    ["leave joint", { transition: "auto", changes: [] }],
    ["one voter", { transition: "auto", changes: [{ type: "addNode", nodeId: "n1" }] }],
    [
      "joint with context",
      {
        transition: "explicit",
        changes: [
          { type: "addLearner", nodeId: "gateway-é-7" },
          { type: "removeNode", nodeId: "n2" },
        ],
        context: new Uint8Array([0, 1, 255]),
      },
    ],
    ["empty context", { transition: "implicit", changes: [], context: new Uint8Array() }],
  ];
  for (const [name, cc] of table) {
    await t.step(name, () => assert.deepEqual(decodeConfChange(encodeConfChange(cc)), cc));
  }
});

Deno.test("the encoding is stable", () => {
  const bytes = encodeConfChange({
    transition: "implicit",
    changes: [{ type: "removeNode", nodeId: "ab" }],
    context: new Uint8Array([7]),
  });
  assert.deepEqual(
    [...bytes],
    [1, 1, 0, 1, 2, 0, 2, 0x61, 0x62, 1, 0, 0, 0, 1, 7],
  );
});

Deno.test("decode rejects malformed input with a clear error", async (t) => {
  const valid = [...encodeConfChange({
    transition: "auto",
    changes: [{ type: "addNode", nodeId: "ab" }],
  })];
  const table: Array<[string, number[], RegExp]> = [
    ["empty input", [], /truncated conf change: format version needs 1 bytes at byte 0/],
    ["unknown version", [2, ...valid.slice(1)], /unsupported conf change format version 2/],
    ["unknown transition", [1, 3, 0, 0, 0], /unknown transition code 3 at byte 1/],
    ["truncated count", [1, 0, 0], /change count needs 2 bytes/],
    ["unknown change type", [1, 0, 0, 1, 9, 0, 1, 0x61, 0], /change 0: unknown type code 9/],
    ["truncated id", valid.slice(0, 8), /change 0 id needs 2 bytes at byte 7, only 1 left/],
    ["missing context flag", valid.slice(0, -1), /context flag needs 1 bytes/],
    ["bad context flag", [...valid.slice(0, -1), 2], /context flag at byte 9 must be 0 or 1/],
    ["truncated context", [...valid.slice(0, -1), 1, 0, 0, 0, 5, 1], /context needs 5 bytes/],
    ["trailing bytes", [...valid, 0], /1 trailing bytes after the conf change at byte 10/],
    ["empty node id", [1, 0, 0, 1, 0, 0, 0, 0], /change 0: nodeId must be a non-empty string/],
    ["invalid UTF-8", [1, 0, 0, 1, 0, 0, 1, 0xff, 0], /nodeId at byte 7 is not valid UTF-8/],
    ["too many changes", [1, 0, 0xff, 0xff], /too many changes: 65535/],
    ["oversized id", [1, 0, 0, 1, 0, 0xff, 0xff], /nodeId is 65535 bytes/],
    ["oversized context", [1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff], /context is 4294967295 bytes/],
  ];
  for (const [name, bytes, message] of table) {
    await t.step(
      name,
      () => throwsConfChangeError(() => decodeConfChange(new Uint8Array(bytes)), message),
    );
  }
});

Deno.test("decode reads a view into a larger buffer", () => {
  const encoded = encodeConfChange({
    transition: "auto",
    changes: [{ type: "addNode", nodeId: "x" }],
  });
  const buffer = new Uint8Array(encoded.length + 6);
  buffer.set(encoded, 3);
  assert.deepEqual(decodeConfChange(buffer.subarray(3, 3 + encoded.length)).changes, [
    { type: "addNode", nodeId: "x" },
  ]);
});

Deno.test("validateConfChange rejects every malformed field", async (t) => {
  const table: Array<[string, unknown, RegExp]> = [
    [
      "unknown transition",
      { transition: "sometimes", changes: [] },
      /unknown transition "sometimes"/,
    ],
    ["changes not an array", { transition: "auto", changes: {} }, /changes must be an array/],
    [
      "too many changes",
      {
        transition: "auto",
        changes: Array.from(
          { length: MAX_CONF_CHANGES + 1 },
          (_, i) => ({ type: "addNode", nodeId: `n${i}` }),
        ),
      },
      /too many changes: 1025 \(at most 1024\)/,
    ],
    [
      "unknown type",
      { transition: "auto", changes: [{ type: "updateNode", nodeId: "a" }] },
      /change 0: unknown type "updateNode"/,
    ],
    [
      "empty id",
      { transition: "auto", changes: [{ type: "addNode", nodeId: "" }] },
      /change 0: nodeId must be a non-empty string, got ""/,
    ],
    [
      "numeric id",
      { transition: "auto", changes: [{ type: "addNode", nodeId: 3 }] },
      /nodeId must be a non-empty string, got 3/,
    ],
    [
      "lone surrogate",
      { transition: "auto", changes: [{ type: "addNode", nodeId: "a\ud800" }] },
      /not well-formed Unicode/,
    ],
    [
      "oversized id",
      {
        transition: "auto",
        changes: [{ type: "addNode", nodeId: "é".repeat(MAX_NODE_ID_BYTES / 2 + 1) }],
      },
      /nodeId is 1026 bytes \(at most 1024\)/,
    ],
    [
      "context not bytes",
      { transition: "auto", changes: [], context: "ctx" },
      /context must be a Uint8Array/,
    ],
  ];
  for (const [name, cc, message] of table) {
    await t.step(name, () => {
      throwsConfChangeError(() => validateConfChange(cc as ConfChange), message);
      throwsConfChangeError(() => encodeConfChange(cc as ConfChange), message);
    });
  }
});

Deno.test("enterJoint and leaveJoint follow the ConfChangeV2 rules", async (t) => {
  const one = [{ type: "addNode" as const, nodeId: "a" }];
  const two = [...one, { type: "removeNode" as const, nodeId: "b" }];
  const table: Array<
    [ConfChange["transition"], ConfChangeSingle[], { autoLeave: boolean } | null, boolean]
  > = [
    ["auto", [], null, true],
    ["auto", one, null, false],
    ["auto", two, { autoLeave: true }, false],
    ["implicit", [], { autoLeave: true }, false],
    ["implicit", one, { autoLeave: true }, false],
    ["implicit", two, { autoLeave: true }, false],
    ["explicit", [], { autoLeave: false }, false],
    ["explicit", one, { autoLeave: false }, false],
    ["explicit", two, { autoLeave: false }, false],
  ];
  for (const [transition, changes, joint, leave] of table) {
    await t.step(`${transition} with ${changes.length} changes`, () => {
      const cc: ConfChange = { transition, changes };
      assert.deepEqual(enterJoint(cc), joint);
      assert.equal(leaveJoint(cc), leave);
      assert.equal(
        leaveJoint({ ...cc, context: new Uint8Array([1]) }),
        leave,
        "context is ignored",
      );
    });
  }
  throwsConfChangeError(
    () => enterJoint({ transition: "never" as "auto", changes: two }),
    /unknown transition "never"/,
  );
});

Deno.test("property: encode/decode round-trips any valid ConfChange", () => {
  fc.assert(
    fc.property(arbConfChange, (cc) => {
      const bytes = encodeConfChange(cc);
      const decoded = decodeConfChange(bytes);
      assert.deepEqual(decoded, cc);
      assert.deepEqual(encodeConfChange(decoded), bytes);
    }),
    { numRuns: 300 },
  );
});

Deno.test("property: decoding arbitrary bytes yields a valid change or a ConfChangeError", () => {
  const arbBytes = fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    // Mutations of valid encodings reach deeper into the decoder.
    fc.tuple(arbConfChange, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([cc, at, value]) => {
      const bytes = encodeConfChange(cc);
      bytes[at % bytes.length] = value;
      return bytes;
    }),
    fc.tuple(arbConfChange, fc.nat()).map(([cc, cut]) => {
      const bytes = encodeConfChange(cc);
      return bytes.subarray(0, cut % bytes.length);
    }),
  );
  fc.assert(
    fc.property(arbBytes, (bytes) => {
      let decoded: ConfChange;
      try {
        decoded = decodeConfChange(bytes);
      } catch (error) {
        assert.ok(error instanceof ConfChangeError, `unexpected ${error}`);
        return;
      }
      validateConfChange(decoded);
      assert.deepEqual(encodeConfChange(decoded), bytes);
    }),
    { numRuns: 500 },
  );
});

Deno.test("change notation", async (t) => {
  await t.step("round trip", () => {
    const changes: ConfChangeSingle[] = [
      { type: "addNode", nodeId: "1" },
      { type: "addLearner", nodeId: "gw-é" },
      { type: "removeNode", nodeId: "v" },
    ];
    assert.equal(confChangesToString(changes), "v1 lgw-é rv");
    assert.deepEqual(confChangesFromString("  v1\tlgw-é  rv "), changes);
    assert.deepEqual(confChangesFromString(""), []);
  });
  await t.step("bad tokens", () => {
    throwsConfChangeError(() => confChangesFromString("v1 x2"), /bad change "x2"/);
    throwsConfChangeError(() => confChangesFromString("v1 r"), /bad change "r"/);
    throwsConfChangeError(
      () => confChangesToString([{ type: "addNode", nodeId: "a b" }]),
      /node id "a b" cannot be written/,
    );
  });
});
