import assert from "node:assert/strict";
import { decodeConfChange, type Entry } from "@safla/core";
import { forceNewClusterLog } from "./force_new_cluster.ts";

function entry(index: number, term: number): Entry {
  return { index, term, type: "normal", data: new Uint8Array([index]) };
}

Deno.test("forceNewClusterLog: cuts to the commit, then makes self the only voter, one change per entry", () => {
  const state = {
    entries: [entry(11, 2), entry(12, 2), entry(13, 3), entry(14, 3)],
    hardState: { term: 4, vote: "n2", commit: 12 },
    snapshot: { index: 10, term: 2 },
  };
  const forced = forceNewClusterLog(state, "n1", ["n1", "n2", "n3"]);
  assert.deepEqual(forced.entries.map((e) => e.index), [11, 12, 13, 14, 15]);
  assert.deepEqual(forced.appended.map((e) => [e.index, e.term, e.type]), [
    [13, 4, "confChange"],
    [14, 4, "confChange"],
    [15, 4, "confChange"],
  ]);
  assert.deepEqual(
    forced.appended.map((e) => decodeConfChange(e.data).changes),
    [[{ type: "addNode", nodeId: "n1" }], [{ type: "removeNode", nodeId: "n2" }], [{
      type: "removeNode",
      nodeId: "n3",
    }]],
  );
  assert.deepEqual(forced.hardState, { term: 4, vote: "n2", commit: 15 });
});

Deno.test("forceNewClusterLog: everything in the snapshot, nothing after it", () => {
  const forced = forceNewClusterLog(
    {
      entries: [],
      hardState: { term: 0, vote: null, commit: 0 },
      snapshot: { index: 40, term: 5 },
    },
    "n3",
    ["n1", "n3"],
  );
  assert.deepEqual(forced.entries.map((e) => [e.index, e.term]), [[41, 5], [42, 5]]);
  assert.equal(forced.hardState.commit, 42);
});
