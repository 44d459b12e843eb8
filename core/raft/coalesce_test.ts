import assert from "node:assert/strict";
import { coalesceMessages } from "./coalesce.ts";
import { newMessage } from "./raft.ts";
import type { Entry, Message } from "./types.ts";

const LIMIT = 1 << 20;

function entry(index: number, term = 2, bytes = 1): Entry {
  return { term, index, type: "normal", data: new Uint8Array(bytes) };
}

function app(to: string, index: number, entries: Entry[], commit = 0, logTerm = 2): Message {
  return newMessage({ type: "app", from: "a", to, term: 2, index, logTerm, entries, commit });
}

function ack(from: string, index: number, reject = false): Message {
  return newMessage({ type: "appResp", from, to: "a", term: 2, index, reject });
}

Deno.test("coalesceMessages", async (t) => {
  await t.step("appends that continue each other become one, per peer, in order", () => {
    const msgs = [
      app("b", 4, [entry(5)], 4),
      app("c", 4, [entry(5)], 4),
      app("b", 5, [entry(6)], 5),
      app("b", 6, [], 6),
      app("c", 5, [entry(6), entry(7)], 5),
    ];
    const before = structuredClone(msgs);
    const out = coalesceMessages(msgs, LIMIT);
    assert.deepEqual(out.map((m) => [m.to, m.index, m.entries.map((e) => e.index), m.commit]), [
      ["b", 4, [5, 6], 6],
      ["c", 4, [5, 6, 7], 5],
    ]);
    assert.deepEqual(msgs, before, "the input messages are not mutated");
  });

  await t.step(
    "a gap, another term or a message of another kind in between keeps them apart",
    () => {
      const gap = coalesceMessages([app("b", 4, [entry(5)]), app("b", 6, [entry(7)])], LIMIT);
      assert.equal(gap.length, 2);
      const otherTerm = coalesceMessages([
        app("b", 4, [entry(5, 2)]),
        app("b", 5, [entry(6, 3)], 0, 3),
      ], LIMIT);
      assert.equal(otherTerm.length, 2, "the second append's logTerm does not match the first's");
      const between = coalesceMessages([
        app("b", 4, [entry(5)]),
        newMessage({ type: "heartbeat", from: "a", to: "b", term: 2 }),
        app("b", 5, [entry(6)]),
      ], LIMIT);
      assert.deepEqual(between.map((m) => m.type), ["app", "heartbeat", "app"]);
    },
  );

  await t.step("merged appends stay within the size budget", () => {
    const out = coalesceMessages([
      app("b", 4, [entry(5, 2, 600)]),
      app("b", 5, [entry(6, 2, 600)]),
      app("b", 6, [entry(7, 2, 100)]),
    ], 1000);
    assert.deepEqual(out.map((m) => m.entries.map((e) => e.index)), [[5], [6, 7]]);
  });

  await t.step("successful acknowledgements keep the highest; rejections stay", () => {
    const out = coalesceMessages([ack("b", 5), ack("b", 7), ack("b", 6), ack("c", 3)], LIMIT);
    assert.deepEqual(out.map((m) => [m.from, m.index]), [["b", 7], ["c", 3]]);
    const rejected = coalesceMessages([ack("b", 5), ack("b", 4, true), ack("b", 6)], LIMIT);
    assert.deepEqual(rejected.map((m) => [m.index, m.reject]), [[5, false], [4, true], [6, false]]);
  });
});
