import assert from "node:assert/strict";
import fc from "fast-check";
import { readCanonicalCommand } from "./canonical_command.ts";
import {
  type Command,
  CommandError,
  type CommandLimits,
  DEFAULT_COMMAND_LIMITS,
  encodeCommand,
  LOG_COMMAND_LIMITS,
  validateCommand,
} from "./commands.ts";

/** The general path: strict UTF-8, JSON.parse, validation (undefined where it refuses). */
function generalPath(json: Uint8Array, limits: Readonly<CommandLimits>): Command | undefined {
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(json);
    return validateCommand(JSON.parse(text), limits);
  } catch (error) {
    if (error instanceof SyntaxError || error instanceof TypeError) return undefined;
    if (error instanceof CommandError) return undefined;
    throw error;
  }
}

const arbText = () =>
  fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.string({ unit: "grapheme", maxLength: 8 }),
    fc.string({ unit: "binary", maxLength: 8 }),
    fc.constantFrom("", "\\", '"', "\u0000", "\n", "\u007f", "\ufeffbom", "\ud800", "é", "😀"),
  );

const arbPutOrDelete = (): fc.Arbitrary<Command> =>
  fc.oneof(
    fc.record({
      op: fc.constant("put" as const),
      key: arbText(),
      value: arbText(),
      leaseId: fc.option(fc.oneof(fc.constant(0), fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)), {
        nil: undefined,
      }),
      prevKv: fc.option(fc.boolean(), { nil: undefined }),
    }, { requiredKeys: ["op", "key", "value"] }),
    fc.record({
      op: fc.constant("delete" as const),
      key: arbText(),
      prefix: fc.option(fc.boolean(), { nil: undefined }),
      prevKv: fc.option(fc.boolean(), { nil: undefined }),
    }, { requiredKeys: ["op", "key"] }),
  );

const tinyLimits: Readonly<CommandLimits> = {
  ...DEFAULT_COMMAND_LIMITS,
  maxKeyBytes: 3,
  maxValueBytes: 5,
  maxCommandBytes: 7,
};

/** The log encoding of `cmd`, or undefined when the encoder refuses it (a limit). */
function encodedOrUndefined(cmd: Command): Uint8Array | undefined {
  try {
    return encodeCommand(cmd);
  } catch (error) {
    if (error instanceof CommandError) return undefined;
    throw error;
  }
}

Deno.test("canonical put and delete", async (t) => {
  await t.step("reads what encodeCommand wrote, as the general path does", () => {
    fc.assert(
      fc.property(arbPutOrDelete(), (cmd) => {
        const bytes = encodedOrUndefined(cmd);
        if (bytes === undefined) return;
        const json = bytes.subarray(1);
        const fast = readCanonicalCommand(json, LOG_COMMAND_LIMITS);
        // Reading in place from the format byte's successor gives the same.
        assert.deepEqual(readCanonicalCommand(bytes, LOG_COMMAND_LIMITS, 1), fast);
        assert.deepEqual(
          fast ?? generalPath(json, LOG_COMMAND_LIMITS),
          generalPath(json, LOG_COMMAND_LIMITS),
        );
        // Plain ASCII keys and values must take the fast path (it is the point of it).
        if (/^[\x20-\x7e]*$/.test(JSON.stringify(cmd)) && !/\\/.test(JSON.stringify(cmd))) {
          assert.notEqual(fast, undefined, JSON.stringify(cmd));
        }
      }),
      { numRuns: 2000 },
    );
  });

  await t.step("never accepts what the general path refuses or reads differently", () => {
    // Mutations of canonical texts: every byte position, value, insertion and deletion.
    fc.assert(
      fc.property(
        arbPutOrDelete(),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom("replace", "insert", "delete"),
        fc.boolean(),
        (cmd, position, byte, how, tiny) => {
          const bytes = encodedOrUndefined(cmd);
          if (bytes === undefined) return;
          const json = Array.from(bytes.subarray(1));
          const at = position % (json.length + 1);
          if (how === "replace" && at < json.length) json[at] = byte;
          if (how === "insert") json.splice(at, 0, byte);
          if (how === "delete") json.splice(at, 1);
          const mutated = new Uint8Array(json);
          const limits = tiny ? tinyLimits : LOG_COMMAND_LIMITS;
          const fast = readCanonicalCommand(mutated, limits);
          if (fast !== undefined) assert.deepEqual(fast, generalPath(mutated, limits));
        },
      ),
      { numRuns: 5000 },
    );
  });

  await t.step("leaves limits, escapes and other operations to the general path", () => {
    const json = (text: string) => new TextEncoder().encode(text);
    const cases = [
      '{"op":"put","key":"a\\u0062","value":"x"}',
      '{"op":"put","key":"","value":"x"}',
      '{"op":"put","key":"a","value":"x","leaseId":0}',
      '{"op":"put","key":"a","value":"x","leaseId":01}',
      '{"op":"put","key":"a","value":"x","leaseId":1.5}',
      '{"op":"put","key":"a","value":"x","leaseId":90071992547409910}',
      '{"op":"put","key":"a","value":"x","prevKv":false}',
      '{"op":"put","key":"a","value":"x"} ',
      '{"op":"put","value":"x","key":"a"}',
      '{"op":"delete","key":""}',
      '{"op":"delete","key":"a","prevKv":true,"prefix":true}',
      '{"op":"get","key":"a"}',
    ];
    for (const text of cases) {
      assert.equal(readCanonicalCommand(json(text), LOG_COMMAND_LIMITS), undefined, text);
    }
    const long = json('{"op":"put","key":"abcd","value":"x"}');
    assert.equal(readCanonicalCommand(long, tinyLimits), undefined);
    assert.deepEqual(readCanonicalCommand(long, LOG_COMMAND_LIMITS), {
      op: "put",
      key: "abcd",
      value: "x",
    });
    assert.deepEqual(
      readCanonicalCommand(
        json('{"op":"put","key":"é","value":"","leaseId":9007199254740991,"prevKv":true}'),
        LOG_COMMAND_LIMITS,
      ),
      { op: "put", key: "é", value: "", leaseId: Number.MAX_SAFE_INTEGER, prevKv: true },
    );
    assert.deepEqual(
      readCanonicalCommand(json('{"op":"delete","key":"","prefix":true}'), LOG_COMMAND_LIMITS),
      { op: "delete", key: "", prefix: true },
    );
  });
});
