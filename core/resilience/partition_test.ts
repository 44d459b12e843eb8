import assert from "node:assert/strict";
import fc from "fast-check";
import {
  hasQuorumContact,
  MinorityPartitionError,
  type PartitionRequest,
  partitionVerdict,
} from "./partition.ts";

const read: PartitionRequest = {
  kind: "tool-call",
  toolName: "search",
  annotations: { readOnlyHint: true },
};
const idempotent: PartitionRequest = {
  kind: "tool-call",
  toolName: "put",
  annotations: { idempotentHint: true },
};
const write: PartitionRequest = { kind: "tool-call", toolName: "pay" };
const register: PartitionRequest = { kind: "cluster-write", operation: "register server" };
const catalog: PartitionRequest = { kind: "catalog" };

Deno.test("partitionVerdict", async (t) => {
  await t.step("with a quorum everything is allowed, nothing is stale", () => {
    for (const request of [read, idempotent, write, register, catalog]) {
      assert.deepEqual(partitionVerdict({ nodeId: "n1", hasQuorum: true, request }), {
        allowed: true,
        fromStaleCache: false,
      });
    }
  });

  await t.step("in a minority: cached catalogs and repeat-safe calls only", () => {
    const verdict = (request: PartitionRequest) =>
      partitionVerdict({ nodeId: "n3", hasQuorum: false, request });
    assert.deepEqual(verdict(catalog), { allowed: true, fromStaleCache: true });
    assert.deepEqual(verdict(read), { allowed: true, fromStaleCache: false });
    assert.deepEqual(verdict(idempotent), { allowed: true, fromStaleCache: false });
    for (const request of [write, register]) {
      const v = verdict(request);
      assert.equal(v.allowed, false);
      assert.ok(!v.allowed && v.error instanceof MinorityPartitionError);
      assert.equal(v.error.nodeId, "n3");
      assert.match(v.error.message, /minority partition/);
      assert.match(v.error.message, /Nothing was executed/);
    }
    const v = verdict(write);
    assert.ok(!v.allowed);
    assert.equal(v.error.operation, 'tools/call "pay"');
  });

  await t.step("property: a side-effecting call is never admitted without a quorum", () => {
    fc.assert(
      fc.property(
        fc.record({ readOnlyHint: fc.constant(false), idempotentHint: fc.constant(false) }, {
          requiredKeys: [],
        }),
        fc.string(),
        (annotations, toolName) => {
          const v = partitionVerdict({
            nodeId: "n",
            hasQuorum: false,
            request: { kind: "tool-call", toolName, annotations },
          });
          assert.equal(v.allowed, false);
        },
      ),
      { numRuns: 100 },
    );
  });
});

Deno.test("hasQuorumContact counts self and recently heard voters", () => {
  const base = {
    selfId: "a",
    voterIds: ["a", "b", "c"],
    nowMs: 1000,
    contactWindowMs: 500,
  };
  const cases: Array<[Array<[string, number]>, boolean]> = [
    [[], false],
    [[["b", 500]], true],
    [[["b", 499]], false],
    [[["b", 100], ["c", 900]], true],
    [[["x", 1000], ["y", 1000]], false],
  ];
  for (const [contacts, expected] of cases) {
    assert.equal(
      hasQuorumContact({ ...base, lastContactMs: new Map(contacts) }),
      expected,
      JSON.stringify(contacts),
    );
  }
  assert.equal(
    hasQuorumContact({ ...base, voterIds: ["b", "c"], lastContactMs: new Map([["b", 1000]]) }),
    false,
    "a non-voter with one of two voters is not a majority",
  );
  assert.equal(hasQuorumContact({ ...base, voterIds: [], lastContactMs: new Map() }), false);
});
