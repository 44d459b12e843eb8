import assert from "node:assert/strict";
import fc from "fast-check";
import { MajorityConfig, quorumSize } from "./majority.ts";
import type { VoteResult } from "./types.ts";

const NODE_IDS = ["a", "b", "c", "d", "e", "f", "g"];
const arbIds = fc.uniqueArray(fc.constantFrom(...NODE_IDS), { maxLength: NODE_IDS.length });
const arbAcks = fc.dictionary(fc.constantFrom(...NODE_IDS), fc.nat({ max: 20 }));
const arbVotes = fc.dictionary(fc.constantFrom(...NODE_IDS), fc.boolean());

function indexer(acks: Record<string, number>): (id: string) => number | undefined {
  return (id) => acks[id];
}

// The definition, by brute force: the largest index that at least a quorum has reached.
function committedByCounting(ids: string[], acks: Record<string, number>): number {
  if (ids.length === 0) return Number.MAX_SAFE_INTEGER;
  const candidates = [0, ...ids.map((id) => acks[id] ?? 0)];
  let best = 0;
  for (const candidate of candidates) {
    const reached = ids.filter((id) => (acks[id] ?? 0) >= candidate).length;
    if (reached >= quorumSize(ids.length) && candidate > best) best = candidate;
  }
  return best;
}

Deno.test("quorumSize is a strict majority", () => {
  const table: Array<[number, number]> = [[0, 1], [1, 1], [2, 2], [3, 2], [4, 3], [5, 3], [6, 4]];
  for (const [voters, quorum] of table) assert.equal(quorumSize(voters), quorum, `${voters}`);
});

Deno.test("MajorityConfig.committedIndex", async (t) => {
  const table: Array<[string, string[], Record<string, number>, number]> = [
    ["empty config places no constraint", [], {}, Number.MAX_SAFE_INTEGER],
    ["single voter, acked", ["a"], { a: 5 }, 5],
    ["single voter, unknown counts as 0", ["a"], {}, 0],
    ["two voters need both", ["a", "b"], { a: 5, b: 3 }, 3],
    ["two voters, one unknown", ["a", "b"], { a: 5 }, 0],
    ["three voters, median", ["a", "b", "c"], { a: 7, b: 5, c: 2 }, 5],
    ["three voters, one unknown", ["a", "b", "c"], { a: 7, c: 2 }, 2],
    ["three voters, equal acks", ["a", "b", "c"], { a: 4, b: 4, c: 4 }, 4],
    ["four voters need three", ["a", "b", "c", "d"], { a: 10, b: 8, c: 6, d: 4 }, 6],
    ["five voters need three", ["a", "b", "c", "d", "e"], { a: 1, b: 2, c: 3, d: 4, e: 5 }, 3],
    ["acks of non-voters are ignored", ["a", "b", "c"], { a: 1, b: 1, c: 1, x: 99, y: 99 }, 1],
  ];
  for (const [name, ids, acks, want] of table) {
    await t.step(name, () => {
      assert.equal(new MajorityConfig(ids).committedIndex(indexer(acks)), want);
    });
  }
});

Deno.test("MajorityConfig.committedIndex rejects invalid acked indices", () => {
  const cfg = new MajorityConfig(["a"]);
  assert.throws(() => cfg.committedIndex(() => -1), RangeError);
  assert.throws(() => cfg.committedIndex(() => 1.5), RangeError);
  assert.throws(() => cfg.committedIndex(() => 2 ** 53), RangeError);
});

Deno.test("MajorityConfig.voteResult", async (t) => {
  const table: Array<[string, string[], Record<string, boolean>, VoteResult]> = [
    ["empty config wins", [], {}, "won"],
    ["single voter, no answer", ["a"], {}, "pending"],
    ["single voter, yes", ["a"], { a: true }, "won"],
    ["single voter, no", ["a"], { a: false }, "lost"],
    ["two voters, one yes", ["a", "b"], { a: true }, "pending"],
    ["two voters, one no", ["a", "b"], { a: false }, "lost"],
    ["two voters, both yes", ["a", "b"], { a: true, b: true }, "won"],
    ["three voters, two yes", ["a", "b", "c"], { a: true, b: true }, "won"],
    ["three voters, one yes one no", ["a", "b", "c"], { a: true, b: false }, "pending"],
    ["three voters, two no", ["a", "b", "c"], { b: false, c: false }, "lost"],
    ["four voters, two yes two missing", ["a", "b", "c", "d"], { a: true, b: true }, "pending"],
    ["four voters, two yes two no", ["a", "b", "c", "d"], {
      a: true,
      b: true,
      c: false,
      d: false,
    }, "lost"],
    ["votes of non-voters are ignored", ["a", "b", "c"], { x: true, y: true }, "pending"],
  ];
  for (const [name, ids, votes, want] of table) {
    await t.step(name, () => {
      assert.equal(new MajorityConfig(ids).voteResult(new Map(Object.entries(votes))), want);
    });
  }
});

Deno.test("MajorityConfig validates ids and describes itself sorted", () => {
  assert.throws(() => new MajorityConfig([""]), TypeError);
  const cfg = new MajorityConfig(["c", "a", "b", "a"]);
  assert.equal(cfg.size, 3);
  assert.deepEqual(cfg.slice(), ["a", "b", "c"]);
  assert.equal(cfg.toString(), "(a b c)");
  assert.equal(cfg.has("b"), true);
  assert.equal(cfg.has("z"), false);
  assert.equal(new MajorityConfig().toString(), "()");
});

Deno.test("property: committedIndex is the largest index a majority acknowledged", () => {
  fc.assert(
    fc.property(arbIds, arbAcks, (ids, acks) => {
      assert.equal(
        new MajorityConfig(ids).committedIndex(indexer(acks)),
        committedByCounting(ids, acks),
      );
    }),
    { numRuns: 500 },
  );
});

Deno.test("property: committedIndex is monotone in acknowledgements", () => {
  fc.assert(
    fc.property(
      arbIds,
      arbAcks,
      fc.constantFrom(...NODE_IDS),
      fc.nat({ max: 10 }),
      (ids, acks, id, raise) => {
        const cfg = new MajorityConfig(ids);
        const before = cfg.committedIndex(indexer(acks));
        const raised = { ...acks, [id]: (acks[id] ?? 0) + raise };
        assert.ok(cfg.committedIndex(indexer(raised)) >= before);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("property: a committed index is held by a quorum, a higher one is not", () => {
  fc.assert(
    fc.property(arbIds.filter((ids) => ids.length > 0), arbAcks, (ids, acks) => {
      const cfg = new MajorityConfig(ids);
      const committed = cfg.committedIndex(indexer(acks));
      const reached = (i: number) => ids.filter((id) => (acks[id] ?? 0) >= i).length;
      assert.ok(reached(committed) >= quorumSize(ids.length));
      assert.ok(reached(committed + 1) < quorumSize(ids.length));
    }),
    { numRuns: 300 },
  );
});

Deno.test("property: voteResult agrees with counting", () => {
  fc.assert(
    fc.property(arbIds, arbVotes, (ids, votes) => {
      const result = new MajorityConfig(ids).voteResult(new Map(Object.entries(votes)));
      const yes = ids.filter((id) => votes[id] === true).length;
      const no = ids.filter((id) => votes[id] === false).length;
      const quorum = quorumSize(ids.length);
      let want: VoteResult = "pending";
      if (ids.length === 0 || yes >= quorum) want = "won";
      else if (ids.length - no < quorum) want = "lost";
      assert.equal(result, want);
      // Filling in the missing votes can only confirm a decided outcome.
      const allYes = new Map(ids.map((id) => [id, votes[id] ?? true]));
      const allNo = new Map(ids.map((id) => [id, votes[id] ?? false]));
      const cfg = new MajorityConfig(ids);
      if (result === "won") assert.equal(cfg.voteResult(allNo), "won");
      if (result === "lost") assert.equal(cfg.voteResult(allYes), "lost");
      if (result === "pending") {
        assert.equal(cfg.voteResult(allYes), "won");
        assert.equal(cfg.voteResult(allNo), "lost");
      }
    }),
    { numRuns: 500 },
  );
});
