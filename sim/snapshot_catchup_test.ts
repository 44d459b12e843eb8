import assert from "node:assert/strict";
import { largeSnapshotCatchUp } from "./snapshot_catchup.ts";

Deno.test("large-snapshot-catchup: the follower converges from a snapshot ~100x the message limit, under faults, without an election", () => {
  for (const seed of [1, 2, 3]) {
    const figures = largeSnapshotCatchUp(seed);
    assert.deepEqual(figures.violations, {
      safety: 0,
      oversizedMessages: 0,
      notCaughtUp: 0,
      leaderChanges: 0,
      stateMismatch: 0,
    }, `seed ${seed}: ${JSON.stringify(figures)}`);
    assert.ok(figures.snapshotBytes > 50 * figures.maxMessageBytes, `seed ${seed}`);
    assert.ok(figures.largestMessageBytes <= figures.maxMessageBytes);
    assert.ok(figures.snapshotsInstalled >= 1);
    assert.deepEqual([figures.faults.followerCrashes, figures.faults.partitions], [1, 1]);
  }
});

Deno.test("large-snapshot-catchup catches a snapshot that cannot cross the network", () => {
  // Chunks twice the message limit: the bug class of one frame for a whole snapshot.
  const figures = largeSnapshotCatchUp(1, { chunkBytes: 16 * 1024 });
  assert.ok(figures.violations.oversizedMessages > 0);
  assert.equal(figures.violations.notCaughtUp, 1);
});

Deno.test("large-snapshot-catchup replays exactly from its seed", () => {
  assert.deepEqual(largeSnapshotCatchUp(4), largeSnapshotCatchUp(4));
});
