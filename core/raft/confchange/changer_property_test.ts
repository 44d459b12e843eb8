import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type ConfigAndProgress,
  ProgressTracker,
  trackerConfigToString,
} from "../tracker/tracker.ts";
import type { ConfChangeSingle } from "../types.ts";
import { Changer, checkInvariants } from "./changer.ts";
import { ConfChangeError } from "./errors.ts";
import { restore } from "./restore.ts";

const NODE_IDS = ["a", "b", "c", "d", "e", "f"];

const arbChange: fc.Arbitrary<ConfChangeSingle> = fc.record({
  type: fc.constantFrom("addNode" as const, "addLearner" as const, "removeNode" as const),
  nodeId: fc.constantFrom(...NODE_IDS),
}).map((change) => ({ ...change }));

type Op =
  | { kind: "simple"; changes: ConfChangeSingle[] }
  | { kind: "enterJoint"; autoLeave: boolean; changes: ConfChangeSingle[] }
  | { kind: "leaveJoint" }
  | { kind: "ack"; nodeId: string; index: number };

const arbOp: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("simple" as const),
      changes: fc.array(arbChange, { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("enterJoint" as const),
      autoLeave: fc.boolean(),
      changes: fc.array(arbChange, { maxLength: 5 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: "leaveJoint" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("ack" as const),
      nodeId: fc.constantFrom(...NODE_IDS),
      index: fc.nat({ max: 50 }),
    }),
  },
);

function symmetricDifference(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  return [...a].filter((id) => !b.has(id)).length + [...b].filter((id) => !a.has(id)).length;
}

Deno.test("property: any sequence of changes keeps the configuration invariants", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...NODE_IDS),
      fc.array(arbOp, { maxLength: 40 }),
      (first, ops) => {
        const trk = new ProgressTracker(4, 0);
        let lastIndex = 1;
        const boot = new Changer(trk, lastIndex).simple([{ type: "addNode", nodeId: first }]);
        trk.config = boot.config;
        trk.progress = boot.progress;
        for (const op of ops) {
          lastIndex++;
          if (op.kind === "ack") {
            trk.progress.get(op.nodeId)?.maybeUpdate(op.index);
            continue;
          }
          const before = trackerConfigToString(trk.config);
          const beforeState = trk.confState();
          const matchBefore = new Map([...trk.progress].map(([id, pr]) => [id, pr.match]));
          const changer = new Changer(trk, lastIndex);
          let result;
          try {
            if (op.kind === "simple") result = changer.simple(op.changes);
            else if (op.kind === "enterJoint") {
              result = changer.enterJoint(op.autoLeave, op.changes);
            } else result = changer.leaveJoint();
          } catch (error) {
            assert.ok(error instanceof ConfChangeError, `unexpected ${error}`);
            assert.equal(
              trackerConfigToString(trk.config),
              before,
              "a failed change mutates nothing",
            );
            continue;
          }
          assert.equal(trackerConfigToString(trk.config), before, "the base is never mutated");
          const { config, progress } = result;

          // Structural invariants.
          checkInvariants(config, progress);
          assert.ok(config.voters.incoming.size > 0, "never zero voters");
          for (const id of config.learners) {
            assert.ok(!config.voters.has(id), `learner ${id} is not a voter`);
          }
          for (const id of config.learnersNext) {
            assert.ok(config.voters.outgoing.has(id), `staged ${id} is an outgoing voter`);
          }
          if (!config.voters.isJoint) {
            assert.equal(config.learnersNext.size, 0);
            assert.equal(config.autoLeave, false);
          }
          // Members that stay keep what the leader knew about their logs; a
          // member removed and re-added in one simple change starts afresh.
          const removed = new Set(
            op.kind === "leaveJoint"
              ? []
              : op.changes.filter((c) => c.type === "removeNode").map((c) => c.nodeId),
          );
          for (const [id, pr] of progress) {
            const match = matchBefore.get(id);
            if (match === undefined) {
              assert.equal(pr.next, lastIndex, `${id} is new, probed from the last index`);
            } else if (!removed.has(id)) {
              assert.equal(pr.match, match, `${id} keeps its match`);
            }
          }

          // Per-operation properties.
          if (op.kind === "simple") {
            assert.ok(
              symmetricDifference(trk.config.voters.incoming.ids, config.voters.incoming.ids) <= 1,
              "a simple change alters at most one voter",
            );
            assert.equal(config.voters.isJoint, false);
          } else if (op.kind === "enterJoint") {
            assert.deepEqual(config.voters.outgoing.slice(), beforeState.voters);
            assert.equal(config.autoLeave, op.autoLeave);
          } else {
            assert.equal(config.voters.isJoint, false);
            assert.deepEqual(config.voters.incoming.slice(), beforeState.voters);
            for (const id of beforeState.learnersNext) assert.ok(config.learners.has(id));
          }

          trk.config = config;
          trk.progress = progress;

          // restore(confState()) rebuilds the same configuration.
          const cs = trk.confState();
          const restored = restore(new Changer(new ProgressTracker(4, 0), lastIndex), cs);
          const rebuilt = new ProgressTracker(4, 0);
          rebuilt.config = restored.config;
          rebuilt.progress = restored.progress;
          assert.deepEqual(rebuilt.confState(), cs);
          assert.deepEqual([...restored.progress.keys()].sort(), [...trk.progress.keys()].sort());
          for (const [id, pr] of restored.progress) {
            assert.equal(pr.isLearner, trk.progress.get(id)?.isLearner);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

function describe(base: ConfigAndProgress): string {
  const lines = [trackerConfigToString(base.config)];
  for (const id of [...base.progress.keys()].sort()) {
    lines.push(`${id}: ${base.progress.get(id)?.toString()}`);
  }
  return lines.join("\n");
}

function changerFor(base: ConfigAndProgress, lastIndex: number): Changer {
  return new Changer({ ...base, maxInflightMsgs: 4, maxInflightBytes: 0 }, lastIndex);
}

Deno.test("property: one joint change equals the same changes applied one by one", () => {
  // Node "a" is a voter throughout, so no sequence removes every voter.
  const arbOther = fc.record({
    type: fc.constantFrom("addNode" as const, "addLearner" as const, "removeNode" as const),
    nodeId: fc.constantFrom("b", "c", "d", "e"),
  }).map((change): ConfChangeSingle => ({ ...change }));
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom("b", "c", "d", "e"), { maxLength: 4 }),
      fc.array(arbOther, { minLength: 1, maxLength: 8 }),
      (setupVoters, changes) => {
        const lastIndex = 10;
        let base: ConfigAndProgress = new Changer(new ProgressTracker(4, 0), lastIndex).simple([
          { type: "addNode", nodeId: "a" },
        ]);
        for (const nodeId of setupVoters) {
          base = changerFor(base, lastIndex).simple([{ type: "addNode", nodeId }]);
        }

        let oneByOne = base;
        for (const change of changes) oneByOne = changerFor(oneByOne, lastIndex).simple([change]);

        const joint = changerFor(base, lastIndex).enterJoint(false, changes);
        const jointAuto = changerFor(base, lastIndex).enterJoint(true, changes);
        assert.equal(jointAuto.config.autoLeave, true);
        jointAuto.config.autoLeave = false;
        assert.equal(describe(jointAuto), describe(joint));

        const left = changerFor(joint, lastIndex).leaveJoint();
        assert.equal(describe(left), describe(oneByOne));
      },
    ),
    { numRuns: 300 },
  );
});
