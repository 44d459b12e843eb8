import assert from "node:assert/strict";
import fc from "fast-check";
import { Inflights } from "./inflights.ts";
import { Progress, ProgressError } from "./progress.ts";

function progress(match: number, next: number, capacity = 4, maxBytes = 0): Progress {
  return new Progress({ match, next, inflights: new Inflights(capacity, maxBytes) });
}

Deno.test("Progress construction asserts match < next", () => {
  assert.throws(() => progress(5, 5), ProgressError);
  assert.throws(() => progress(-1, 1), ProgressError);
  assert.throws(() => progress(0, 1.5), ProgressError);
  const pr = progress(3, 4);
  assert.equal(pr.state, "probe");
  assert.equal(pr.isPaused(), false);
  assert.equal(pr.recentActive, false);
  assert.equal(pr.isLearner, false);
});

Deno.test("becomeProbe", async (t) => {
  await t.step("from replicate: next = match + 1", () => {
    const pr = progress(1, 5);
    pr.becomeReplicate();
    pr.updateOnEntriesSend(2, 10, 2);
    pr.becomeProbe();
    assert.equal(pr.state, "probe");
    assert.equal(pr.next, 2);
    assert.equal(pr.inflights.count, 0);
    assert.equal(pr.isPaused(), false);
  });
  await t.step("from snapshot with a pending snapshot: after the snapshot", () => {
    const pr = progress(1, 5);
    pr.becomeSnapshot(10);
    pr.becomeProbe();
    assert.equal(pr.next, 11);
    assert.equal(pr.pendingSnapshot, 0);
  });
  await t.step("from snapshot that failed (pendingSnapshot cleared): after match", () => {
    const pr = progress(1, 5);
    pr.becomeSnapshot(10);
    pr.pendingSnapshot = 0;
    pr.becomeProbe();
    assert.equal(pr.next, 2);
  });
  await t.step("outside snapshot state a stray pendingSnapshot is ignored", () => {
    const pr = progress(1, 5);
    pr.pendingSnapshot = 10;
    pr.becomeProbe();
    assert.equal(pr.next, 2);
  });
  await t.step("from snapshot when match passed the snapshot", () => {
    const pr = progress(1, 5);
    pr.becomeSnapshot(10);
    pr.maybeUpdate(12);
    pr.becomeProbe();
    assert.equal(pr.next, 13);
  });
});

Deno.test("becomeReplicate and becomeSnapshot", () => {
  const pr = progress(5, 9);
  pr.becomeReplicate();
  assert.equal(pr.state, "replicate");
  assert.equal(pr.next, 6);
  pr.becomeSnapshot(20);
  assert.equal(pr.state, "snapshot");
  assert.equal(pr.pendingSnapshot, 20);
  assert.equal(pr.next, 21);
  assert.equal(pr.isPaused(), true);
  assert.throws(() => pr.becomeSnapshot(-1), ProgressError);
});

Deno.test("maybeUpdate", async (t) => {
  const table: Array<[string, number, number, number, boolean, number, number]> = [
    // name, match, next, ack, updated, wantMatch, wantNext
    ["stale ack below match", 3, 5, 2, false, 3, 5],
    ["ack equal to match", 3, 5, 3, false, 3, 5],
    ["ack below next", 3, 5, 4, true, 4, 5],
    ["ack at next - 1", 3, 5, 4, true, 4, 5],
    ["ack at next raises next", 3, 5, 5, true, 5, 6],
    ["ack beyond next raises next", 3, 5, 9, true, 9, 10],
  ];
  for (const [name, match, next, ack, updated, wantMatch, wantNext] of table) {
    await t.step(name, () => {
      const pr = progress(match, next);
      pr.msgAppFlowPaused = true;
      assert.equal(pr.maybeUpdate(ack), updated);
      assert.equal(pr.match, wantMatch);
      assert.equal(pr.next, wantNext);
      assert.equal(pr.msgAppFlowPaused, !updated);
    });
  }
});

Deno.test("maybeDecrTo", async (t) => {
  const table: Array<
    [string, "probe" | "replicate", number, number, number, number, boolean, number]
  > = [
    // name, state, match, next, rejected, hint, decremented, wantNext
    ["replicate: stale rejection at match", "replicate", 5, 10, 5, 5, false, 10],
    ["replicate: stale rejection below match", "replicate", 5, 10, 4, 4, false, 10],
    ["replicate: falls back to match + 1", "replicate", 5, 10, 9, 9, true, 6],
    ["replicate: hint is ignored", "replicate", 5, 10, 9, 2, true, 6],
    ["probe: rejection not of next - 1 is stale", "probe", 0, 10, 5, 5, false, 10],
    ["probe: steps back one", "probe", 0, 10, 9, 9, true, 9],
    ["probe: jumps to hint + 1", "probe", 0, 10, 9, 3, true, 4],
    ["probe: hint beyond rejected uses rejected", "probe", 0, 10, 9, 20, true, 9],
    ["probe: never below match + 1", "probe", 5, 10, 9, 1, true, 6],
    ["probe: from next = 1 stays at 1", "probe", 0, 2, 1, 0, true, 1],
  ];
  for (const [name, state, match, next, rejected, hint, decremented, wantNext] of table) {
    await t.step(name, () => {
      const pr = progress(match, next);
      if (state === "replicate") {
        pr.becomeReplicate();
        pr.updateOnEntriesSend(next - match - 1, 1, match + 1);
      } else {
        pr.msgAppFlowPaused = true;
      }
      assert.equal(pr.next, next);
      assert.equal(pr.maybeDecrTo(rejected, hint), decremented);
      assert.equal(pr.next, wantNext);
      assert.equal(pr.match, match);
      if (state === "probe") assert.equal(pr.msgAppFlowPaused, !decremented);
    });
  }
});

Deno.test("updateOnEntriesSend", async (t) => {
  await t.step("replicate: next advances optimistically and fills the window", () => {
    const pr = progress(0, 1, 2);
    pr.becomeReplicate();
    pr.updateOnEntriesSend(3, 30, 1);
    assert.equal(pr.next, 4);
    assert.deepEqual(pr.inflights.indices(), [3]);
    assert.equal(pr.isPaused(), false);
    pr.updateOnEntriesSend(2, 20, 4);
    assert.equal(pr.next, 6);
    assert.equal(pr.isPaused(), true);
    assert.match(pr.toString(), /inflight=2\[full\]/);
    // An acknowledgement frees the window; the leader frees and unpauses.
    pr.maybeUpdate(3);
    pr.inflights.freeLE(3);
    assert.equal(pr.inflights.full(), false);
  });
  await t.step("replicate: an empty append tracks nothing", () => {
    const pr = progress(0, 1);
    pr.becomeReplicate();
    pr.updateOnEntriesSend(0, 0, 1);
    assert.equal(pr.next, 1);
    assert.equal(pr.inflights.count, 0);
  });
  await t.step("replicate: byte limit pauses", () => {
    const pr = progress(0, 1, 10, 100);
    pr.becomeReplicate();
    pr.updateOnEntriesSend(1, 100, 1);
    assert.equal(pr.isPaused(), true);
  });
  await t.step("probe: any append pauses until an answer", () => {
    const pr = progress(0, 5);
    pr.updateOnEntriesSend(2, 10, 5);
    assert.equal(pr.next, 5);
    assert.equal(pr.isPaused(), true);
    assert.equal(pr.inflights.count, 0);
    const empty = progress(0, 5);
    empty.updateOnEntriesSend(0, 0, 5);
    assert.equal(empty.isPaused(), true);
  });
  await t.step("snapshot: sending is a bug", () => {
    const pr = progress(0, 5);
    pr.becomeSnapshot(9);
    assert.throws(() => pr.updateOnEntriesSend(1, 1, 10), /snapshot state/);
  });
  await t.step("appends must start at next", () => {
    const pr = progress(0, 5);
    pr.becomeReplicate();
    assert.throws(() => pr.updateOnEntriesSend(1, 1, 3), /must start at next=1/);
    assert.throws(() => pr.updateOnEntriesSend(-1, 1, 1), ProgressError);
  });
});

Deno.test("isPaused", async (t) => {
  const table: Array<["probe" | "replicate" | "snapshot", boolean, boolean]> = [
    ["probe", false, false],
    ["probe", true, true],
    ["replicate", false, false],
    ["replicate", true, true],
    ["snapshot", false, true],
  ];
  for (const [state, paused, want] of table) {
    await t.step(`${state} paused=${paused}`, () => {
      const pr = progress(0, 1);
      if (state === "replicate") pr.becomeReplicate();
      if (state === "snapshot") pr.becomeSnapshot(5);
      pr.msgAppFlowPaused = paused;
      assert.equal(pr.isPaused(), want);
    });
  }
});

Deno.test("toString and clone", () => {
  const pr = new Progress({ match: 2, next: 5, inflights: new Inflights(4, 0), isLearner: true });
  assert.equal(pr.toString(), "probe match=2 next=5 learner inactive");
  pr.recentActive = true;
  pr.becomeSnapshot(9);
  assert.equal(pr.toString(), "snapshot match=2 next=10 learner paused pendingSnap=9");
  const copy = pr.clone();
  assert.equal(copy.toString(), pr.toString());
  copy.becomeProbe();
  assert.equal(pr.state, "snapshot");
  const rep = progress(0, 1);
  rep.becomeReplicate();
  rep.updateOnEntriesSend(1, 1, 1);
  const repCopy = rep.clone();
  repCopy.inflights.freeLE(1);
  assert.equal(rep.inflights.count, 1);
  assert.equal(repCopy.inflights.count, 0);
});

type Event =
  | { kind: "probe" }
  | { kind: "replicate" }
  | { kind: "snapshot"; ahead: number }
  | { kind: "snapshotFailed" }
  | { kind: "ack"; offset: number }
  | { kind: "send"; entryCount: number; sizeBytes: number }
  | { kind: "reject"; offset: number; hint: number }
  | { kind: "heartbeatResp" };

const arbEvent: fc.Arbitrary<Event> = fc.oneof(
  fc.constant({ kind: "probe" as const }),
  fc.constant({ kind: "replicate" as const }),
  fc.record({ kind: fc.constant("snapshot" as const), ahead: fc.integer({ min: -3, max: 10 }) }),
  fc.constant({ kind: "snapshotFailed" as const }),
  fc.record({ kind: fc.constant("ack" as const), offset: fc.integer({ min: -5, max: 5 }) }),
  fc.record({
    kind: fc.constant("send" as const),
    entryCount: fc.nat({ max: 4 }),
    sizeBytes: fc.nat({ max: 64 }),
  }),
  fc.record({
    kind: fc.constant("reject" as const),
    offset: fc.integer({ min: -3, max: 1 }),
    hint: fc.nat({ max: 30 }),
  }),
  fc.constant({ kind: "heartbeatResp" as const }),
);

Deno.test("property: the progress state machine keeps its invariants", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 128 })),
      fc.array(arbEvent, { maxLength: 60 }),
      (capacity, maxBytes, events) => {
        const pr = new Progress({ next: 1, inflights: new Inflights(capacity, maxBytes) });
        for (const event of events) {
          const matchBefore = pr.match;
          const nextBefore = pr.next;
          switch (event.kind) {
            case "probe":
              pr.becomeProbe();
              break;
            case "replicate":
              pr.becomeReplicate();
              break;
            case "snapshot": {
              const index = Math.max(0, pr.match + event.ahead);
              pr.becomeSnapshot(index);
              assert.equal(pr.pendingSnapshot, index);
              break;
            }
            case "snapshotFailed":
              pr.pendingSnapshot = 0;
              break;
            case "ack": {
              const n = Math.max(0, pr.next - 1 + event.offset);
              const updated = pr.maybeUpdate(n);
              assert.equal(updated, n > matchBefore);
              pr.inflights.freeLE(n);
              break;
            }
            case "send": {
              // A leader only sends while not paused, always from next; with a full
              // window (unpaused by a heartbeat response) it sends an empty append.
              if (pr.isPaused()) break;
              const entryCount = pr.state === "replicate" && pr.inflights.full()
                ? 0
                : event.entryCount;
              pr.updateOnEntriesSend(entryCount, entryCount === 0 ? 0 : event.sizeBytes, pr.next);
              if (pr.state === "replicate") {
                assert.equal(pr.next, nextBefore + entryCount);
                assert.equal(pr.isPaused(), pr.inflights.full());
              } else {
                assert.equal(pr.next, nextBefore);
                assert.equal(pr.isPaused(), true);
              }
              break;
            }
            case "reject": {
              const rejected = Math.max(0, pr.next - 1 + event.offset);
              if (pr.maybeDecrTo(rejected, event.hint)) {
                // Fast backtracking never skips an entry the follower might lack.
                assert.ok(pr.next <= Math.max(rejected, pr.match + 1));
                if (pr.state === "replicate") pr.becomeProbe();
              } else {
                assert.equal(pr.next, nextBefore);
              }
              break;
            }
            case "heartbeatResp":
              pr.msgAppFlowPaused = false;
              break;
          }
          assert.ok(pr.match < pr.next, pr.toString());
          assert.ok(pr.match >= matchBefore, "match never decreases");
          assert.ok(pr.next >= pr.match + 1, "next never below match + 1");
          assert.ok(pr.inflights.count <= capacity);
          if (pr.state !== "replicate") assert.equal(pr.inflights.count, 0);
          if (pr.state === "snapshot") assert.equal(pr.isPaused(), true);
        }
      },
    ),
    { numRuns: 400 },
  );
});
