import assert from "node:assert/strict";
import fc from "fast-check";
import { ReadOnly, ReadOnlyError } from "./read_only.ts";
import type { Message } from "./types.ts";

function readIndex(context: Uint8Array | undefined, from = "client"): Message {
  return {
    type: "readIndex",
    from,
    to: "leader",
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context,
  };
}

function heartbeatResp(from: string, context: Uint8Array | undefined): Message {
  return { ...readIndex(context, from), type: "heartbeatResp", term: 1 };
}

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);

Deno.test("ReadOnly validates its options", () => {
  assert.throws(() => new ReadOnly("eventual" as "safe"), ReadOnlyError);
  assert.throws(() => new ReadOnly("safe", 0), ReadOnlyError);
  const ro = new ReadOnly("leaseBased", 3);
  assert.equal(ro.option, "leaseBased");
  assert.equal(ro.maxPendingRequests, 3);
  assert.equal(ro.pendingCount, 0);
  assert.equal(ro.lastPendingRequestCtx(), undefined);
});

Deno.test("requests are acknowledged and released in order", () => {
  const ro = new ReadOnly("safe");
  ro.addRequest(5, readIndex(bytes(1)));
  ro.addRequest(6, readIndex(bytes(2)));
  ro.addRequest(6, readIndex(bytes(3)));
  assert.deepEqual(ro.lastPendingRequestCtx(), bytes(3));

  const acks = ro.recvAck("b", bytes(2));
  assert.deepEqual([...(acks ?? new Map())], [["b", true]]);
  assert.deepEqual([...(ro.recvAck("c", bytes(2)) ?? new Map())], [["b", true], ["c", true]]);
  assert.equal(ro.recvAck("b", bytes(9)), undefined, "unknown context");

  // Confirming request 2 confirms request 1 as well; request 3 stays.
  const done = ro.advance(heartbeatResp("c", bytes(2)));
  assert.deepEqual(done.map((s) => s.index), [5, 6]);
  assert.deepEqual(done.map((s) => s.req.context), [bytes(1), bytes(2)]);
  assert.equal(ro.pendingCount, 1);
  assert.deepEqual(ro.lastPendingRequestCtx(), bytes(3));

  assert.deepEqual(ro.advance(heartbeatResp("c", bytes(2))), [], "already released");
  assert.deepEqual(ro.advance(heartbeatResp("c", undefined)), [], "no context");
  assert.deepEqual(ro.advance(heartbeatResp("c", bytes(3))).map((s) => s.index), [6]);
  assert.equal(ro.pendingCount, 0);
  assert.equal(ro.lastPendingRequestCtx(), undefined);
});

Deno.test("contexts are compared by bytes, not identity", () => {
  const ro = new ReadOnly("safe");
  ro.addRequest(1, readIndex(bytes(0, 255)));
  ro.addRequest(2, readIndex(bytes(0, 255)));
  assert.equal(ro.pendingCount, 1, "a duplicate context is ignored");
  ro.addRequest(3, readIndex(bytes(0)));
  ro.addRequest(4, readIndex(bytes()));
  assert.equal(ro.pendingCount, 3, "prefixes and the empty context are distinct");
  assert.ok(ro.recvAck("b", bytes(0, 255)));
  const done = ro.advance(heartbeatResp("b", new Uint8Array([0, 255])));
  assert.deepEqual(done.map((s) => s.index), [1]);
});

Deno.test("the queue is bounded", () => {
  const ro = new ReadOnly("safe", 2);
  ro.addRequest(1, readIndex(bytes(1)));
  ro.addRequest(1, readIndex(bytes(2)));
  assert.equal(ro.full(), true);
  ro.addRequest(1, readIndex(bytes(2)));
  assert.throws(
    () => ro.addRequest(1, readIndex(bytes(3))),
    /ReadIndex queue full: 2 requests pending \(at most 2\)/,
  );
  ro.advance(heartbeatResp("b", bytes(1)));
  ro.addRequest(2, readIndex(bytes(3)));
  assert.equal(ro.pendingCount, 2);
});

Deno.test("malformed requests are rejected", () => {
  const ro = new ReadOnly("safe");
  assert.throws(() => ro.addRequest(1, readIndex(undefined)), /needs a context/);
  assert.throws(() => ro.addRequest(-1, readIndex(bytes(1))), ReadOnlyError);
  assert.throws(() => ro.addRequest(1.5, readIndex(bytes(1))), ReadOnlyError);
});

Deno.test("property: advance releases exactly the prefix up to the named request", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.uint8Array({ maxLength: 3 }), {
        minLength: 1,
        maxLength: 12,
        selector: (ctx) => [...ctx].join(","),
      }),
      fc.nat(),
      (contexts, pick) => {
        const ro = new ReadOnly("safe", 16);
        contexts.forEach((ctx, position) => ro.addRequest(position, readIndex(ctx)));
        const cut = pick % contexts.length;
        const done = ro.advance(heartbeatResp("b", contexts[cut].slice()));
        assert.deepEqual(done.map((s) => s.index), contexts.slice(0, cut + 1).map((_, i) => i));
        assert.equal(ro.pendingCount, contexts.length - cut - 1);
        const last = ro.lastPendingRequestCtx();
        if (cut === contexts.length - 1) assert.equal(last, undefined);
        else assert.deepEqual(last, contexts[contexts.length - 1]);
        for (const ctx of contexts.slice(0, cut + 1)) {
          assert.equal(ro.recvAck("b", ctx), undefined);
        }
      },
    ),
    { numRuns: 200 },
  );
});

type ReadOp =
  | { kind: "add"; ctx: number; index: number }
  | { kind: "ack"; ctx: number; from: string }
  | { kind: "advance"; ctx: number };

Deno.test("property: ReadOnly matches a queue model under any operations", () => {
  const arbCtx = fc.nat({ max: 7 });
  const arbOp: fc.Arbitrary<ReadOp> = fc.oneof(
    fc.record({ kind: fc.constant("add" as const), ctx: arbCtx, index: fc.nat({ max: 100 }) }),
    fc.record({ kind: fc.constant("ack" as const), ctx: arbCtx, from: fc.constantFrom("b", "c") }),
    fc.record({ kind: fc.constant("advance" as const), ctx: arbCtx }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.array(arbOp, { maxLength: 60 }), (max, ops) => {
      const ro = new ReadOnly("safe", max);
      const model: Array<{ ctx: number; index: number; acks: Set<string> }> = [];
      for (const op of ops) {
        const ctx = bytes(op.ctx, op.ctx * 3);
        const position = model.findIndex((r) => r.ctx === op.ctx);
        if (op.kind === "add") {
          if (position < 0 && model.length >= max) {
            assert.throws(() => ro.addRequest(op.index, readIndex(ctx)), ReadOnlyError);
          } else {
            ro.addRequest(op.index, readIndex(ctx));
            if (position < 0) model.push({ ctx: op.ctx, index: op.index, acks: new Set() });
          }
        } else if (op.kind === "ack") {
          const acks = ro.recvAck(op.from, ctx);
          if (position < 0) {
            assert.equal(acks, undefined);
          } else {
            model[position].acks.add(op.from);
            assert.deepEqual([...(acks?.keys() ?? [])].sort(), [...model[position].acks].sort());
          }
        } else {
          const done = ro.advance(heartbeatResp("b", ctx));
          const released = position < 0 ? [] : model.splice(0, position + 1);
          assert.deepEqual(done.map((s) => s.index), released.map((r) => r.index));
        }
        assert.equal(ro.pendingCount, model.length);
        assert.ok(ro.pendingCount <= max);
        const last = model.at(-1);
        assert.deepEqual(ro.lastPendingRequestCtx(), last && bytes(last.ctx, last.ctx * 3));
      }
    }),
    { numRuns: 300 },
  );
});
