import assert from "node:assert/strict";
import { decideOutbound, OutboundBudget, OutboundGate } from "./outbound_gate.ts";

const limits = { maxQueuedMessages: 3, maxQueuedBytes: 1000 };
const log = { jsonrpc: "2.0", method: "notifications/message", params: { data: "x" } };
const changed = { jsonrpc: "2.0", method: "notifications/tools/list_changed" };

Deno.test("the policy: within the bound send; over it drop progress and logs; beyond twice it close", () => {
  assert.equal(decideOutbound({ messages: 2, bytes: 0 }, 10, true, limits), "send");
  assert.equal(decideOutbound({ messages: 3, bytes: 0 }, 10, true, limits), "drop");
  assert.equal(decideOutbound({ messages: 0, bytes: 995 }, 10, true, limits), "drop");
  assert.equal(decideOutbound({ messages: 3, bytes: 0 }, 10, false, limits), "send");
  assert.equal(decideOutbound({ messages: 6, bytes: 0 }, 10, false, limits), "close");
  assert.equal(decideOutbound({ messages: 0, bytes: 1995 }, 10, false, limits), "close");
});

function streamOf(): { response: Response; push(text: string): void } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => controller = c });
  return {
    response: new Response(body, { headers: { "content-type": "text/event-stream" } }),
    push: (text) => controller.enqueue(new TextEncoder().encode(text)),
  };
}

Deno.test("a client that reads nothing: logs are dropped and counted, the stream is cut when it stays full", async () => {
  const gate = new OutboundGate(limits);
  const source = streamOf();
  const wrapped = gate.wrap(source.response);
  const offer = (m: unknown) => {
    const decision = gate.offer(m, 10);
    if (decision === "send") source.push("data: x\n\n");
    return decision;
  };
  assert.deepEqual([offer(log), offer(log), offer(log), offer(log)], [
    "send",
    "send",
    "send",
    "drop",
  ]);
  assert.equal(gate.dropped, 1);
  assert.deepEqual([offer(changed), offer(changed), offer(changed)], ["send", "send", "send"]);
  assert.equal(offer(changed), "close");
  assert.equal(gate.closed, 1);
  assert.equal(gate.open, false);
  await assert.rejects(wrapped.text(), /fell too far behind/);
});

Deno.test("what the client reads is counted off: a reading client never loses a message", async () => {
  const gate = new OutboundGate(limits);
  const source = streamOf();
  const reader = gate.wrap(source.response).body!.getReader();
  for (let i = 0; i < 20; i++) {
    const frame = `data: ${i}\n\n`;
    assert.equal(gate.offer(log, frame.length), "send");
    source.push(frame);
    const { value } = await reader.read();
    assert.equal(new TextDecoder().decode(value), `data: ${i}\n\n`);
  }
  assert.equal(gate.dropped, 0);
  assert.deepEqual(gate.backlog, { messages: 0, bytes: 0 });
  await reader.cancel();
  assert.equal(gate.open, false);
});

Deno.test("without an open stream nothing is counted (the transport sends nowhere)", () => {
  const gate = new OutboundGate(limits);
  for (let i = 0; i < 10; i++) assert.equal(gate.offer(log, 10), "send");
  assert.deepEqual(gate.backlog, { messages: 0, bytes: 0 });
});

Deno.test("the streams of a node share one budget: one stream's backlog counts against the others", () => {
  const budget = new OutboundBudget(25);
  const big = { maxQueuedMessages: 100, maxQueuedBytes: 1000 };
  const a = new OutboundGate(big, budget);
  const b = new OutboundGate(big, budget);
  a.wrap(streamOf().response);
  b.wrap(streamOf().response);
  assert.equal(a.offer(log, 20), "send");
  assert.equal(budget.bytes, 20);
  assert.equal(b.offer(log, 10), "drop");
  assert.equal(b.offer(log, 5), "send");
  assert.equal(b.offer(log, 1), "drop");
});
