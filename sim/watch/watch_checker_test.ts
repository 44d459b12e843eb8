import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeCommand, globMatch, type WatchEvent } from "@safla/core/state";
import { AppliedLog, TappedKvStateMachine } from "./applied_log.ts";
import { checkWatcher, nodeHistoryMismatch, selects, type WatcherRecord } from "./watch_checker.ts";

/** Revisions 1..6: services/a, sessions/a, services/b (txn with sessions/b), delete services/a, … */
function committed(): ReturnType<AppliedLog["canonical"]> {
  const log = new AppliedLog();
  const commands = [
    encodeCommand({ op: "put", key: "services/a", value: "1" }),
    encodeCommand({ op: "put", key: "sessions/a", value: "2" }),
    encodeCommand({
      op: "txn",
      compare: [],
      success: [
        { op: "put", key: "services/b", value: "3" },
        { op: "put", key: "sessions/b", value: "3" },
      ],
      failure: [],
    }),
    encodeCommand({ op: "delete", key: "services/a" }),
    encodeCommand({ op: "put", key: "services/c", value: "5" }),
    encodeCommand({ op: "put", key: "services/b", value: "6" }),
  ];
  // Index 2 is not a command (e.g. a configuration change): revisions need not equal indices.
  commands.forEach((c, i) => log.record("sm", i < 1 ? 1 : i + 2, c));
  return log.canonical();
}

function services(canonical: ReturnType<typeof committed>): WatchEvent[] {
  return canonical.events.filter((e) => e.kv.key.startsWith("services/"));
}

function record(received: WatchEvent[], extra: Partial<WatcherRecord> = {}): WatcherRecord {
  return {
    name: "w",
    filter: { prefix: "services/" },
    startRevision: 1,
    nextRevision: 7,
    received,
    excused: [],
    ...extra,
  };
}

Deno.test("the reference history replays every applied command in index order", () => {
  const canonical = committed();
  assert.equal(canonical.lastRevision, 6);
  assert.equal(canonical.commands, 6);
  assert.equal(canonical.events.length, 7);
  assert.deepEqual(services(canonical).map((e) => e.revision), [1, 3, 4, 5, 6]);
});

Deno.test("two nodes applying different commands at one index is reported", () => {
  const log = new AppliedLog();
  log.record("a", 1, encodeCommand({ op: "put", key: "k", value: "1" }));
  log.record("b", 1, encodeCommand({ op: "put", key: "k", value: "1" }));
  assert.deepEqual(log.disagreements, []);
  log.record("c", 1, encodeCommand({ op: "put", key: "k", value: "2" }));
  assert.equal(log.disagreements.length, 1);
  assert.match(log.disagreements[0], /index 1: c applied a different command than a/);
});

Deno.test("the tapped state machine records what it applies and keeps a bounded history", () => {
  const log = new AppliedLog();
  const sm = new TappedKvStateMachine("sm", log, { historyLimitEvents: 2 });
  for (let i = 1; i <= 5; i++) sm.apply(encodeCommand({ op: "put", key: "k", value: `${i}` }), i);
  assert.equal(log.size, 5);
  assert.equal(sm.store.compactRevision, 3);
  assert.equal(log.canonical().lastRevision, 5);
});

Deno.test("checkWatcher", async (t) => {
  const canonical = committed();
  const all = services(canonical);

  await t.step("every matching event once, in order: no violation", () => {
    const verdict = checkWatcher(record(all), canonical);
    assert.deepEqual(Object.values(verdict.violations), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(verdict.expected, 5);
  });

  await t.step("a missing event is lost", () => {
    const verdict = checkWatcher(record(all.filter((e) => e.revision !== 4)), canonical);
    assert.equal(verdict.violations.lost, 1);
    assert.match(verdict.problems[0], /never received 4:delete:services\/a/);
  });

  const stateAt3 = new Map([
    ["services/a", "1"],
    ["sessions/a", "2"],
    ["services/b", "3"],
    ["sessions/b", "3"],
  ]);

  await t.step("events skipped after a compaction error, re-read instead, are excused", () => {
    const rec = record(all.filter((e) => e.revision > 3), {
      excused: [{ fromRevision: 1, throughRevision: 3, state: { revision: 3, values: stateAt3 } }],
    });
    const verdict = checkWatcher(rec, canonical);
    assert.deepEqual(Object.values(verdict.violations), [0, 0, 0, 0, 0, 0, 0, 0]);
    assert.equal(verdict.excusedEvents, 2);
  });

  await t.step("a re-read that is not the committed state at its revision is a bad resync", () => {
    const wrong = new Map(stateAt3);
    wrong.delete("services/b");
    // Keys outside the selector do not count: a wrong sessions/ value passes for this watcher.
    const unselected = new Map(stateAt3).set("sessions/a", "other");
    const verdicts = [wrong, unselected].map((values) =>
      checkWatcher(
        record(all.filter((e) => e.revision > 3), {
          excused: [{ fromRevision: 1, throughRevision: 3, state: { revision: 3, values } }],
        }),
        canonical,
      )
    );
    assert.equal(verdicts[0].violations.badResync, 1);
    assert.match(verdicts[0].problems[0], /services\/b read as absent, committed 3/);
    assert.equal(verdicts[1].violations.badResync, 0);
  });

  await t.step(
    "an event received twice is duplicated, an earlier one after a later is reordered",
    () => {
      const [a, b, c, d, e] = all;
      const verdict = checkWatcher(record([a, b, c, c, e, d]), canonical);
      assert.equal(verdict.violations.duplicated, 1);
      assert.equal(verdict.violations.reordered, 1);
      assert.equal(verdict.violations.lost, 0);
    },
  );

  await t.step("events not committed, not selected or before the start are reported", () => {
    const forged: WatchEvent = { ...all[0], kv: { ...all[0].kv, value: "forged" } };
    const session = canonical.events.find((e) => e.kv.key === "sessions/a")!;
    const verdict = checkWatcher(record([forged, ...all.slice(1)]), canonical);
    assert.equal(verdict.violations.notCommitted, 1);
    assert.equal(verdict.violations.lost, 1);
    const sessions = checkWatcher(record([all[0], session, ...all.slice(1)]), canonical);
    assert.equal(sessions.violations.notMatching, 1);
    const late = checkWatcher(record(all, { startRevision: 3 }), canonical);
    assert.equal(late.violations.beforeStart, 1);
  });

  await t.step("a client that did not reach the last revision stalled", () => {
    const verdict = checkWatcher(record(all.slice(0, 2), { nextRevision: 4 }), canonical);
    assert.equal(verdict.violations.stalled, 1);
    assert.equal(verdict.violations.lost, 0);
    const never = checkWatcher(record([], { startRevision: undefined }), canonical);
    assert.equal(never.violations.stalled, 1);
  });
});

Deno.test("a node's retained history must be a stretch of the committed sequence", () => {
  const canonical = committed();
  const events = canonical.events;
  assert.equal(nodeHistoryMismatch(events.slice(2), events[1].revision, canonical), undefined);
  assert.equal(nodeHistoryMismatch(events.slice(0, 4), 0, canonical), undefined);
  const forged = { ...events[3], kv: { ...events[3].kv, value: "forged" } };
  const mismatch = nodeHistoryMismatch([...events.slice(0, 3), forged], 0, canonical);
  assert.match(
    mismatch ?? "",
    /holds 3:put:sessions\/b=forged .* where the committed sequence has 3:put:sessions\/b=3/,
  );
  assert.match(nodeHistoryMismatch(events.slice(1), 0, canonical) ?? "", /^holds 2:put/);
});

Deno.test("the checker's selector agrees with the production glob on `*` patterns", () => {
  const text = fc.string({ unit: fc.constantFrom("a", "b", "/", "*", ".", "("), maxLength: 8 });
  fc.assert(
    fc.property(text, text, (pattern, key) => {
      fc.pre(pattern.length > 0);
      assert.equal(selects({ pattern }, key), globMatch(pattern, key));
    }),
    { numRuns: 500 },
  );
});
