import assert from "node:assert/strict";
import fc from "fast-check";
import { entrySizeBytes, RaftInvariantError } from "./entries.ts";
import { RaftLog } from "./log.ts";
import { CompactedError, emptyConfState, MemoryStorage } from "./storage.ts";
import type { Entry } from "./types.ts";

function ent(index: number, term: number, size = 0): Entry {
  return { index, term, type: "normal", data: new Uint8Array(size) };
}

function terms(entries: Entry[]): number[] {
  return entries.map((e) => e.term);
}

/** A log with entries 1..n of the given terms, all unstable. */
function logWith(entryTerms: number[]): RaftLog {
  const log = new RaftLog(new MemoryStorage(), Infinity);
  log.append(entryTerms.map((t, i) => ent(i + 1, t)));
  return log;
}

Deno.test("RaftLog.findConflict", async (t) => {
  const log = logWith([1, 2, 3]);
  const cases: Array<[string, Entry[], number]> = [
    ["no entries", [], 0],
    ["all match", [ent(1, 1), ent(2, 2), ent(3, 3)], 0],
    ["match then new", [ent(2, 2), ent(3, 3), ent(4, 4)], 4],
    ["only new", [ent(4, 4), ent(5, 4)], 4],
    ["conflict at start", [ent(1, 4), ent(2, 4)], 1],
    ["conflict in the middle", [ent(2, 1), ent(3, 4)], 2],
    ["conflict at end", [ent(3, 1), ent(4, 2)], 3],
  ];
  for (const [name, entries, want] of cases) {
    await t.step(name, () => assert.equal(log.findConflict(entries), want));
  }
});

Deno.test("RaftLog.findConflictByTerm returns the last index whose term is <= the given term", async (t) => {
  // index:  1 2 3 4 5 6 7
  // term:   1 1 2 2 5 5 5
  const log = logWith([1, 1, 2, 2, 5, 5, 5]);
  const cases: Array<[number, number, number, number]> = [
    [7, 5, 7, 5],
    [7, 4, 4, 2],
    [7, 2, 4, 2],
    [7, 1, 2, 1],
    [7, 0, 0, 0],
    [3, 1, 2, 1],
    [10, 9, 10, 0], // beyond the log: unknown term
  ];
  for (const [index, term, wantIndex, wantTerm] of cases) {
    await t.step(`(${index}, ${term})`, () => {
      assert.deepEqual(log.findConflictByTerm(index, term), { index: wantIndex, term: wantTerm });
    });
  }
  await t.step("stops at the compacted boundary", () => {
    const s = new MemoryStorage();
    s.applySnapshot({
      data: new Uint8Array(),
      metadata: { index: 4, term: 3, confState: emptyConfState() },
    });
    s.append([ent(5, 4), ent(6, 4)]);
    const l = new RaftLog(s, Infinity);
    assert.deepEqual(l.findConflictByTerm(6, 2), { index: 3, term: 0 });
    assert.deepEqual(l.findConflictByTerm(6, 3), { index: 4, term: 3 });
  });
});

Deno.test("RaftLog.maybeAppend", async (t) => {
  await t.step("rejects when the previous entry does not match", () => {
    const log = logWith([1, 2, 3]);
    assert.equal(log.maybeAppend(3, 2, 3, [ent(4, 4)]), undefined);
    assert.equal(log.maybeAppend(4, 4, 3, [ent(5, 4)]), undefined);
    assert.equal(log.committed, 0);
  });
  await t.step("appends, commits up to min(leader commit, last new index)", () => {
    const log = logWith([1, 2, 3]);
    assert.equal(log.maybeAppend(3, 3, 10, [ent(4, 4)]), 4);
    assert.equal(log.committed, 4);
    assert.equal(log.lastIndex(), 4);
  });
  await t.step("a heartbeat-like append with no entries commits only up to the match", () => {
    const log = logWith([1, 2, 3]);
    assert.equal(log.maybeAppend(2, 2, 3, []), 2);
    assert.equal(log.committed, 2);
    assert.equal(log.lastIndex(), 3);
  });
  await t.step("truncates a conflicting uncommitted suffix", () => {
    const log = logWith([1, 2, 3]);
    assert.equal(log.maybeAppend(1, 1, 1, [ent(2, 4), ent(3, 4)]), 3);
    assert.deepEqual(terms(log.allEntries()), [1, 4, 4]);
  });
  await t.step("an already present suffix is not truncated (stale, reordered append)", () => {
    const log = logWith([1, 2, 3]);
    assert.equal(log.maybeAppend(0, 0, 0, [ent(1, 1)]), 1);
    assert.deepEqual(terms(log.allEntries()), [1, 2, 3]);
  });
  await t.step("refuses to overwrite a committed entry", () => {
    const log = logWith([1, 2, 3]);
    log.commitTo(2);
    assert.throws(() => log.maybeAppend(1, 1, 3, [ent(2, 9)]), RaftInvariantError);
  });
});

Deno.test("RaftLog commit and apply cursors", async (t) => {
  await t.step("commitTo never goes backwards and never past the last index", () => {
    const log = logWith([1, 1]);
    log.commitTo(2);
    log.commitTo(1);
    assert.equal(log.committed, 2);
    assert.throws(() => log.commitTo(3), RaftInvariantError);
  });
  await t.step("maybeCommit only commits an entry of the given term", () => {
    const log = logWith([1, 2]);
    assert.equal(log.maybeCommit(1, 2), false);
    assert.equal(log.maybeCommit(2, 2), true);
    assert.equal(log.committed, 2);
  });
  await t.step("nextCommittedEnts respects the byte limit and the applying cursor", () => {
    const log = new RaftLog(new MemoryStorage(), entrySizeBytes(ent(1, 1, 10)) * 2);
    log.append([ent(1, 1, 10), ent(2, 1, 10), ent(3, 1, 10)]);
    log.commitTo(3);
    const first = log.nextCommittedEnts();
    assert.deepEqual(first.map((e) => e.index), [1, 2]);
    log.acceptApplying(2);
    assert.deepEqual(log.nextCommittedEnts().map((e) => e.index), [3]);
    log.appliedTo(2);
    assert.equal(log.applied, 2);
    assert.throws(() => log.appliedTo(4), RaftInvariantError);
  });
  await t.step("no committed entries are handed out while a snapshot is pending", () => {
    const log = logWith([1]);
    log.commitTo(1);
    log.restore({
      data: new Uint8Array(),
      metadata: { index: 5, term: 2, confState: emptyConfState() },
    });
    assert.equal(log.committed, 5);
    assert.equal(log.hasNextCommittedEnts(), false);
    assert.deepEqual(log.nextCommittedEnts(), []);
    assert.equal(log.lastIndex(), 5);
    assert.equal(log.term(5), 2);
  });
});

Deno.test("RaftLog.isUpToDate compares last term then length (§5.4.1)", () => {
  const log = logWith([1, 2, 3]);
  assert.equal(log.isUpToDate(2, 4), true);
  assert.equal(log.isUpToDate(3, 3), true);
  assert.equal(log.isUpToDate(4, 3), true);
  assert.equal(log.isUpToDate(2, 3), false);
  assert.equal(log.isUpToDate(9, 2), false);
});

Deno.test("RaftLog.slice spans storage and the unstable tail", async (t) => {
  const storage = new MemoryStorage();
  storage.append([ent(1, 1, 4), ent(2, 1, 4), ent(3, 1, 4), ent(4, 1, 4)]);
  storage.compact(1);
  const log = new RaftLog(storage, Infinity);
  log.append([ent(5, 2, 4), ent(6, 2, 4)]);
  const size = entrySizeBytes(ent(1, 1, 4));
  await t.step("without a limit", () => {
    assert.deepEqual(log.slice(2, 7, Infinity).map((e) => e.index), [2, 3, 4, 5, 6]);
  });
  await t.step("with a limit that cuts in storage", () => {
    assert.deepEqual(log.slice(2, 7, size * 2).map((e) => e.index), [2, 3]);
  });
  await t.step("with a limit that cuts in the unstable tail", () => {
    assert.deepEqual(log.slice(3, 7, size * 3).map((e) => e.index), [3, 4, 5]);
  });
  await t.step("at least one entry even under a zero limit", () => {
    assert.deepEqual(log.slice(5, 7, 0).map((e) => e.index), [5]);
  });
  await t.step("compacted start throws CompactedError", () => {
    assert.throws(() => log.slice(1, 3, Infinity), CompactedError);
  });
  await t.step("property: equals the size-limited prefix of the full range", () => {
    const all = [ent(2, 1, 4), ent(3, 1, 4), ent(4, 1, 4), ent(5, 2, 4), ent(6, 2, 4)];
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 7 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 200 }),
        (lo, len, limit) => {
          const hi = Math.min(7, lo + len);
          const got = log.slice(lo, hi, limit).map((e) => e.index);
          const want: number[] = [];
          let total = 0;
          for (const e of all.filter((e) => e.index >= lo && e.index < hi)) {
            total += entrySizeBytes(e);
            if (want.length > 0 && total > limit) break;
            want.push(e.index);
          }
          assert.deepEqual(got, want);
        },
      ),
      { numRuns: 200 },
    );
  });
});

Deno.test("RaftLog stabilisation hands unstable entries out once", () => {
  const storage = new MemoryStorage();
  const log = new RaftLog(storage, Infinity);
  log.append([ent(1, 1), ent(2, 1)]);
  const next = log.nextUnstableEnts();
  assert.equal(next.length, 2);
  log.acceptUnstable();
  assert.equal(log.hasNextUnstableEnts(), false);
  storage.append(next);
  log.stableTo(2, 1);
  assert.equal(log.unstable.offset, 3);
  assert.deepEqual(terms(log.allEntries()), [1, 1]);
});
