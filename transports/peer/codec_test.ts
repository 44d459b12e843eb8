import assert from "node:assert/strict";
import fc from "fast-check";
import { type Message, type MessageType, newMessage } from "@safla/core";
import {
  CodecError,
  decodeMessages,
  encodeMessageBatches,
  encodeMessages,
  frameBatchLength,
} from "./codec.ts";

const types: MessageType[] = [
  "app",
  "appResp",
  "vote",
  "voteResp",
  "preVote",
  "snap",
  "heartbeat",
  "readIndex",
  "timeoutNow",
  "snapChunk",
  "snapAck",
];
const id = fc.string({ minLength: 1, maxLength: 8 });
const safe = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const entry = fc.record({
  term: safe,
  index: safe,
  type: fc.constantFrom("normal" as const, "confChange" as const),
  data: fc.uint8Array({ maxLength: 32 }),
});
const confState = fc.record({
  voters: fc.array(id, { maxLength: 3 }),
  votersOutgoing: fc.array(id, { maxLength: 3 }),
  learners: fc.array(id, { maxLength: 2 }),
  learnersNext: fc.array(id, { maxLength: 2 }),
  autoLeave: fc.boolean(),
});
const message: fc.Arbitrary<Message> = fc.record(
  {
    type: fc.constantFrom(...types),
    from: id,
    to: id,
    term: safe,
    logTerm: safe,
    index: safe,
    commit: safe,
    reject: fc.boolean(),
    rejectHint: safe,
    entries: fc.array(entry, { maxLength: 4 }),
    snapshot: fc.record({
      data: fc.uint8Array({ maxLength: 16 }),
      metadata: fc.record({ index: safe, term: safe, confState }),
    }),
    context: fc.uint8Array({ maxLength: 8 }),
  },
  {
    requiredKeys: [
      "type",
      "from",
      "to",
      "term",
      "logTerm",
      "index",
      "commit",
      "reject",
      "rejectHint",
      "entries",
    ],
  },
);

Deno.test("message batches round-trip through the codec", () => {
  fc.assert(
    fc.property(fc.array(message, { maxLength: 5 }), (batch) => {
      assert.deepEqual(decodeMessages(encodeMessages(batch)), structuredClone(batch));
    }),
    { numRuns: 300 },
  );
});

Deno.test("truncated or padded frames are rejected with a CodecError", () => {
  fc.assert(
    fc.property(fc.array(message, { minLength: 1, maxLength: 3 }), fc.nat(), (batch, cutSeed) => {
      const bytes = encodeMessages(batch);
      const cut = cutSeed % bytes.length;
      assert.throws(() => decodeMessages(bytes.subarray(0, cut)), CodecError);
      assert.throws(() => decodeMessages(new Uint8Array([...bytes, 0])), CodecError);
    }),
    { numRuns: 200 },
  );
});

Deno.test("an unknown message type code is named in the error", () => {
  const bytes = encodeMessages([
    {
      type: "app",
      from: "a",
      to: "b",
      term: 1,
      logTerm: 0,
      index: 0,
      commit: 0,
      reject: false,
      rejectHint: 0,
      entries: [],
    },
  ]);
  bytes[4] = 200;
  assert.throws(() => decodeMessages(bytes), /unknown message type code 200/);
});

Deno.test("a batch split under a payload bound keeps every message that fits, in order", () => {
  fc.assert(
    fc.property(
      fc.array(message, { maxLength: 12 }),
      fc.integer({ min: 64, max: 2048 }),
      (batch, maxPayloadBytes) => {
        const { payloads, oversized } = encodeMessageBatches(batch, maxPayloadBytes);
        const decoded = payloads.flatMap(({ payload, count }) => {
          assert.ok(payload.length <= maxPayloadBytes, `${payload.length} > ${maxPayloadBytes}`);
          const messages = decodeMessages(payload);
          assert.equal(messages.length, count);
          return messages;
        });
        const fits = batch.filter((m) => !oversized.includes(m));
        assert.deepEqual(decoded, structuredClone(fits));
        for (const m of oversized) {
          assert.ok(
            encodeMessages([m]).length > maxPayloadBytes,
            "only oversized messages left out",
          );
        }
      },
    ),
  );
});

Deno.test("a link takes about one frame of its queue per batch, never nothing", () => {
  const append = (index: number, dataBytes: number): Message => ({
    ...newMessage({ type: "app", from: "a", to: "b", term: 1, index }),
    entries: [{ term: 1, index: index + 1, type: "normal", data: new Uint8Array(dataBytes) }],
  });
  const queue = Array.from({ length: 200 }, (_, i) => append(i, 300_000));
  // 200 appends of 300 kB: three to a 1 MiB frame, not the whole 60 MB queue.
  assert.equal(frameBatchLength(queue, 1024 * 1024), 3);
  // One message larger than the bound alone is still taken (and reported oversized).
  assert.equal(frameBatchLength([append(0, 2_000_000), append(1, 10)], 1024 * 1024), 1);
  assert.equal(frameBatchLength([], 1024), 0);
  const heartbeats = Array.from(
    { length: 50 },
    () => newMessage({ type: "heartbeat", from: "a", to: "b", term: 1 }),
  );
  assert.equal(frameBatchLength(heartbeats, 1024 * 1024), 50);
});
