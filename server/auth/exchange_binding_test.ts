// A 2026-07-28 client's input round on a 2025 backend parks the backend call
// in an exchange; only the principal whose call it is may resume it. Anyone
// else replaying the requestState gets the same error as for an unknown one.
import assert from "node:assert/strict";
import { ProtocolError } from "@modelcontextprotocol/server";
import type { Catalog } from "@safla/transports";
import type { Principal } from "@safla/core/access";
import type { CallContext, ResumeState } from "../gateway/call_context.ts";
import { type CallTarget, ReplicaCalls } from "../gateway/replica_calls.ts";
import { StandInBackend } from "../testing/stand_in_backend.ts";

const LEGACY: Catalog = {
  tools: [{ name: "ask", inputSchema: { type: "object" } }],
  resources: [],
  resourceTemplates: [],
  prompts: [],
  capabilities: { tools: {} },
  era: "legacy",
  protocolVersion: "2025-11-25",
};

const principal = (subject: string): Principal => ({
  subject,
  scopes: [],
  claims: {},
  source: "apiKey",
});

function context(who: Principal): CallContext {
  return {
    notify: () => Promise.resolve(),
    clientCapabilities: { elicitation: {} },
    principal: who,
  };
}

Deno.test("a bridged input exchange is resumed only by the principal whose call it is", async () => {
  const inFlight = new Map<CallContext, number>();
  const backend = new StandInBackend(
    {
      label: "svc#0",
      spec: { kind: "stdio", command: "stand-in", args: [] },
      requestTimeoutMs: 10_000,
      connectTimeoutMs: 10_000,
      initialBackoffMs: 10,
      maxBackoffMs: 10,
      eraCache: undefined as never,
    },
    LEGACY,
    async () => {
      // The 2025 backend pushes a question to whoever has a call in flight.
      const asker = [...inFlight.keys()][0];
      const answer = await asker.sendRequest!({ method: "elicitation/create", params: {} });
      return { content: [{ type: "text", text: `answered ${JSON.stringify(answer)}` }] };
    },
  );
  await backend.start();
  const replica: CallTarget = { id: "svc#0", backend, inFlight };
  const calls = new ReplicaCalls({ mint: (state) => Promise.resolve(JSON.stringify(state)) });
  const alice = principal("alice");
  const params = { name: "ask", arguments: {} };
  try {
    const round = await calls.call(replica, "tools/call", params, context(alice));
    assert.equal(round.resultType, "input_required");
    const state = JSON.parse(round.requestState as string) as ResumeState;
    const inputResponses = { "input-0": { action: "accept", content: {} } };
    const resume = (who: Principal, s: ResumeState) =>
      calls.resume(replica, "svc", "tools/call", params, context(who), {
        state: s,
        inputResponses,
      });

    const unknown = await resume(alice, { ...state, exchange: crypto.randomUUID() }).catch((e) =>
      e
    );
    assert.ok(unknown instanceof ProtocolError);
    const stolen = await resume(principal("mallory"), state).catch((e) => e);
    assert.ok(stolen instanceof ProtocolError);
    assert.deepEqual([stolen.code, stolen.message], [unknown.code, unknown.message]);

    const result = await resume(alice, state);
    assert.match(JSON.stringify(result), /answered/);
  } finally {
    calls.close();
    await backend.close();
  }
});
