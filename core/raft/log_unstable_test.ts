import assert from "node:assert/strict";
import { UnstableLog } from "./log_unstable.ts";
import { emptyConfState } from "./storage.ts";
import type { Entry, Snapshot } from "./types.ts";

function ent(index: number, term: number): Entry {
  return { index, term, type: "normal", data: new Uint8Array() };
}

function snap(index: number, term: number): Snapshot {
  return { data: new Uint8Array(), metadata: { index, term, confState: emptyConfState() } };
}

Deno.test("UnstableLog", async (t) => {
  await t.step("first/last/term come from the snapshot when there are no entries", () => {
    const u = new UnstableLog(5);
    assert.equal(u.maybeFirstIndex(), undefined);
    assert.equal(u.maybeLastIndex(), undefined);
    u.restore(snap(4, 1));
    assert.equal(u.maybeFirstIndex(), 5);
    assert.equal(u.maybeLastIndex(), 4);
    assert.equal(u.maybeTerm(4), 1);
    assert.equal(u.maybeTerm(3), undefined);
  });

  await t.step("truncateAndAppend appends, replaces all, or truncates in the middle", () => {
    const u = new UnstableLog(5);
    u.truncateAndAppend([ent(5, 1), ent(6, 1)]);
    u.truncateAndAppend([ent(7, 1)]);
    assert.deepEqual(u.entries.map((e) => e.index), [5, 6, 7]);
    u.truncateAndAppend([ent(6, 2), ent(7, 2)]);
    assert.deepEqual(u.entries.map((e) => [e.index, e.term]), [[5, 1], [6, 2], [7, 2]]);
    u.truncateAndAppend([ent(4, 3)]);
    assert.equal(u.offset, 4);
    assert.deepEqual(u.entries.map((e) => [e.index, e.term]), [[4, 3]]);
  });

  await t.step(
    "entries handed out are copies: later appends and truncations leave them alone",
    () => {
      const u = new UnstableLog(1);
      u.truncateAndAppend([ent(1, 1), ent(2, 1)]);
      const next = u.nextEntries();
      const sliced = u.slice(1, 3);
      u.truncateAndAppend([ent(3, 1)]);
      u.truncateAndAppend([ent(2, 2)]);
      assert.deepEqual(next.map((e) => [e.index, e.term]), [[1, 1], [2, 1]]);
      assert.deepEqual(sliced.map((e) => [e.index, e.term]), [[1, 1], [2, 1]]);
      const appended = [ent(3, 2)];
      u.truncateAndAppend(appended);
      appended.push(ent(4, 2));
      assert.deepEqual(u.entries.map((e) => [e.index, e.term]), [[1, 1], [2, 2], [3, 2]]);
    },
  );

  await t.step("a truncating append must not leave a gap", () => {
    const u = new UnstableLog(1);
    u.truncateAndAppend([ent(1, 1)]);
    assert.throws(() => u.truncateAndAppend([ent(3, 1)]), /gap/);
  });

  await t.step("in-progress entries are not handed out twice, truncation re-exposes them", () => {
    const u = new UnstableLog(1);
    u.truncateAndAppend([ent(1, 1), ent(2, 1), ent(3, 1)]);
    assert.equal(u.nextEntries().length, 3);
    u.acceptInProgress();
    assert.equal(u.nextEntries().length, 0);
    u.truncateAndAppend([ent(3, 2)]);
    assert.deepEqual(u.nextEntries().map((e) => [e.index, e.term]), [[3, 2]]);
  });

  await t.step("stableTo drops persisted entries but ignores a stale term", () => {
    const u = new UnstableLog(1);
    u.truncateAndAppend([ent(1, 1), ent(2, 1), ent(3, 2)]);
    u.stableTo(2, 9);
    assert.equal(u.offset, 1);
    u.stableTo(2, 1);
    assert.equal(u.offset, 3);
    assert.deepEqual(u.entries.map((e) => e.index), [3]);
    u.stableTo(1, 1);
    assert.equal(u.offset, 3);
  });

  await t.step("stableSnapTo clears only the matching snapshot", () => {
    const u = new UnstableLog(1);
    u.restore(snap(10, 2));
    u.acceptInProgress();
    assert.equal(u.nextSnapshot(), undefined);
    u.stableSnapTo(9);
    assert.ok(u.snapshot);
    u.stableSnapTo(10);
    assert.equal(u.snapshot, undefined);
  });
});
