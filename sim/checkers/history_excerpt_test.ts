import assert from "node:assert/strict";
import { operationsAround } from "./history_excerpt.ts";
import type { KvOperation } from "./kv_model.ts";

const op = (
  clientId: number,
  key: string,
  invokeTime: number,
  completeTime: number,
  value: string,
): KvOperation => ({
  clientId,
  key,
  input: { op: "put", value },
  output: {},
  invokeTime,
  completeTime,
});

Deno.test("the excerpt shows the witness and what overlapped it on that key, in time order", () => {
  const history = [
    op(1, "k", 0, 5, "early"),
    op(2, "k", 10, 20, "w1"),
    op(3, "other", 12, 14, "elsewhere"),
    op(4, "k", 15, 30, "concurrent"),
    op(5, "k", 25, 40, "w2"),
    op(6, "k", 50, 60, "late"),
  ];
  const lines = operationsAround(history, "k", [4, 1]);
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^\* #1 client 2: .*w1/);
  assert.match(lines[1], /^ {2}#3 client 4: .*concurrent/);
  assert.match(lines[2], /^\* #4 client 5: .*w2/);
});

Deno.test("past the bound the witness stays and the operations nearest a witness operation fill the rest", () => {
  const history = Array.from({ length: 50 }, (_, i) => op(i, "k", i, i + 1, `v${i}`));
  const lines = operationsAround(history, "k", [0, 49], 5);
  assert.equal(lines.length, 5);
  assert.ok(lines[0].startsWith("* #0 "));
  assert.ok(lines[4].startsWith("* #49 "));
  assert.deepEqual(lines.slice(1, 4).map((l) => l.split(" ")[2]), ["#1", "#2", "#48"]);
});
