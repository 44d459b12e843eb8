import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "@safla/core";
import { encodeRecords, replayWal } from "@safla/core/wal";
import { DEFAULT_DISK, type DiskConfig, SimDisk } from "./disk.ts";
import { Scheduler } from "./scheduler.ts";

function setup(seed: number, config: Partial<DiskConfig> = {}) {
  const s = new Scheduler();
  return { s, disk: new SimDisk(s, new SeededRng(seed), { ...DEFAULT_DISK, ...config }) };
}

const hs = (term: number) =>
  encodeRecords([{ kind: "hardState", hardState: { term, vote: null, commit: 0 } }]);

Deno.test("synced writes survive a crash; unsynced ones may not", () => {
  for (let seed = 0; seed < 50; seed++) {
    const { s, disk } = setup(seed);
    let done = 0;
    disk.append("wal", hs(1), true, () => done++);
    s.runUntil(10_000, 100);
    assert.equal(done, 1);
    disk.append("wal", hs(2), false, () => done++);
    disk.append("wal", hs(3), false, () => done++);
    disk.crash();
    s.runUntil(20_000, 100);
    assert.equal(done, 1, "completions of lost writes never fire");
    const state = replayWal([disk.read("wal")]);
    assert.ok(state.hardState.term >= 1, "the synced write survived");
  }
});

Deno.test("a torn tail is truncated by recovery; corruption flips one bit of a synced, followed write", () => {
  let torn = 0;
  let corrupt = 0;
  for (let seed = 0; seed < 200; seed++) {
    const { s, disk } = setup(seed, { tornWriteRate: 1 });
    disk.append("wal", hs(1), true, () => {});
    disk.append("wal", hs(2), true, () => {});
    s.runUntil(10_000, 100);
    disk.append("wal", hs(3), false, () => {});
    disk.crash();
    const state = replayWal([disk.read("wal")]);
    if (state.tornTail) torn++;
    assert.ok(state.hardState.term >= 2);
    const before = disk.read("wal");
    if (disk.corrupt("wal")) {
      const after = disk.read("wal");
      let flipped = 0;
      for (let i = 0; i < before.length; i++) {
        const x = before[i] ^ after[i];
        for (let b = 0; b < 8; b++) flipped += (x >> b) & 1;
      }
      assert.equal(flipped, 1);
      // The two synced records sit first; the flip lands in the first, which the second follows.
      assert.notDeepEqual(after.subarray(0, hs(1).length), hs(1));
      corrupt++;
    }
  }
  assert.ok(torn > 20, `torn ${torn}`);
  assert.ok(corrupt > 100, `corrupt ${corrupt}`);
});

Deno.test("a lying disk acks at once but loses the write in a crash", () => {
  const { disk } = setup(1, { acksBeforeSync: true });
  let acked = false;
  disk.append("wal", hs(5), true, () => acked = true);
  assert.equal(acked, true);
  disk.crash();
  // Whatever survived was a prefix flushed by chance; the ack promised more than that.
  assert.ok(disk.read("wal").length <= hs(5).length);
});

Deno.test("replace is atomic and keeps appends issued after it", () => {
  const { s, disk } = setup(3);
  disk.append("wal", hs(1), true, () => {});
  disk.replace("wal", hs(7), () => {});
  disk.append("wal", hs(8), true, () => {});
  s.runUntil(100_000, 100);
  disk.crash();
  assert.equal(replayWal([disk.read("wal")]).hardState.term, 8);
  assert.deepEqual(disk.read("wal").length, hs(7).length + hs(8).length);
});

Deno.test("property: after any crash, every acknowledged synced write is recovered", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 0, max: 20_000 }),
      (seed, syncs, crashAtUs) => {
        const { s, disk } = setup(seed, { tornWriteRate: 0.5 });
        let acknowledgedTerm = 0;
        syncs.forEach((sync, i) => {
          const term = i + 1;
          s.at(i * 300, () =>
            disk.append("wal", hs(term), sync, () => {
              if (sync) acknowledgedTerm = Math.max(acknowledgedTerm, term);
            }));
        });
        s.runUntil(crashAtUs, 10_000);
        disk.crash();
        const state = replayWal([disk.read("wal")]);
        // Writes land in order, so the last valid hard state is at least the last acknowledged one.
        assert.ok(
          state.hardState.term >= acknowledgedTerm,
          `recovered term ${state.hardState.term} < acknowledged ${acknowledgedTerm}`,
        );
        if (state.tornTail) disk.truncate("wal", state.validBytesInLastSegment);
        assert.equal(replayWal([disk.read("wal")]).tornTail, false);
      },
    ),
    { numRuns: 200 },
  );
});
