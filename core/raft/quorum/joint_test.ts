import assert from "node:assert/strict";
import fc from "fast-check";
import { JointConfig } from "./joint.ts";
import { MajorityConfig } from "./majority.ts";
import type { VoteResult } from "./types.ts";

const NODE_IDS = ["a", "b", "c", "d", "e", "f"];
const arbIds = fc.uniqueArray(fc.constantFrom(...NODE_IDS), { maxLength: NODE_IDS.length });
const arbAcks = fc.dictionary(fc.constantFrom(...NODE_IDS), fc.nat({ max: 20 }));
const arbVotes = fc.dictionary(fc.constantFrom(...NODE_IDS), fc.boolean());

function joint(incoming: string[], outgoing: string[]): JointConfig {
  return new JointConfig(new MajorityConfig(incoming), new MajorityConfig(outgoing));
}

Deno.test("JointConfig.committedIndex", async (t) => {
  const table: Array<[string, string[], string[], Record<string, number>, number]> = [
    ["both empty", [], [], {}, Number.MAX_SAFE_INTEGER],
    ["not joint behaves as incoming", ["a", "b", "c"], [], { a: 7, b: 5, c: 2 }, 5],
    ["only outgoing decides when incoming empty", [], ["a", "b"], { a: 7, b: 5 }, 5],
    ["minimum of the halves", ["a", "b", "c"], ["c", "d"], { a: 9, b: 9, c: 4, d: 6 }, 4],
    ["same voters", ["a", "b", "c"], ["a", "b", "c"], { a: 3, b: 2, c: 1 }, 2],
    ["disjoint halves", ["a", "b", "c"], ["d", "e", "f"], {
      a: 10,
      b: 10,
      c: 10,
      d: 1,
      e: 2,
      f: 3,
    }, 2],
  ];
  for (const [name, incoming, outgoing, acks, want] of table) {
    await t.step(name, () => {
      assert.equal(joint(incoming, outgoing).committedIndex((id) => acks[id]), want);
    });
  }
});

Deno.test("JointConfig.voteResult", async (t) => {
  const table: Array<[string, string[], string[], Record<string, boolean>, VoteResult]> = [
    ["both empty win", [], [], {}, "won"],
    ["both win", ["a", "b", "c"], ["c", "d"], { a: true, c: true, d: true }, "won"],
    ["incoming wins, outgoing pending", ["a", "b", "c"], ["c", "d"], {
      a: true,
      b: true,
    }, "pending"],
    ["incoming wins, outgoing loses", ["a", "b", "c"], ["c", "d"], {
      a: true,
      b: true,
      d: false,
    }, "lost"],
    ["incoming loses, outgoing wins", ["a", "b", "c"], ["d"], {
      a: false,
      b: false,
      d: true,
    }, "lost"],
    ["both pending", ["a", "b", "c"], ["d", "e", "f"], { a: true, d: true }, "pending"],
  ];
  for (const [name, incoming, outgoing, votes, want] of table) {
    await t.step(name, () => {
      assert.equal(joint(incoming, outgoing).voteResult(new Map(Object.entries(votes))), want);
    });
  }
});

Deno.test("JointConfig ids, isJoint and toString", () => {
  const cfg = joint(["c", "a", "b"], ["d", "a"]);
  assert.equal(cfg.isJoint, true);
  assert.deepEqual([...cfg.ids()].sort(), ["a", "b", "c", "d"]);
  assert.equal(cfg.toString(), "(a b c)&&(a d)");
  assert.equal(cfg.has("d"), true);
  assert.equal(cfg.has("e"), false);
  const simple = joint(["a"], []);
  assert.equal(simple.isJoint, false);
  assert.equal(simple.toString(), "(a)");
  assert.equal(new JointConfig().isJoint, false);
});

Deno.test("property: joint committedIndex is the minimum of both halves", () => {
  fc.assert(
    fc.property(arbIds, arbIds, arbAcks, (incoming, outgoing, acks) => {
      const cfg = joint(incoming, outgoing);
      const ack = (id: string) => acks[id];
      assert.equal(
        cfg.committedIndex(ack),
        Math.min(cfg.incoming.committedIndex(ack), cfg.outgoing.committedIndex(ack)),
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("property: a joint config with an empty outgoing half equals its incoming half", () => {
  fc.assert(
    fc.property(arbIds, arbAcks, arbVotes, (ids, acks, votes) => {
      const majority = new MajorityConfig(ids);
      const cfg = new JointConfig(majority);
      const votesMap = new Map(Object.entries(votes));
      assert.equal(cfg.committedIndex((id) => acks[id]), majority.committedIndex((id) => acks[id]));
      assert.equal(cfg.voteResult(votesMap), majority.voteResult(votesMap));
    }),
    { numRuns: 300 },
  );
});

Deno.test("property: joint vote is won iff both halves win, lost iff either loses", () => {
  fc.assert(
    fc.property(arbIds, arbIds, arbVotes, (incoming, outgoing, votes) => {
      const cfg = joint(incoming, outgoing);
      const votesMap = new Map(Object.entries(votes));
      const a = cfg.incoming.voteResult(votesMap);
      const b = cfg.outgoing.voteResult(votesMap);
      const result = cfg.voteResult(votesMap);
      assert.equal(result === "won", a === "won" && b === "won");
      assert.equal(result === "lost", a === "lost" || b === "lost");
    }),
    { numRuns: 300 },
  );
});
