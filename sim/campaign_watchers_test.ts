import assert from "node:assert/strict";
import { KvStore, type WatchEvent } from "@safla/core/state";
import { CampaignWatchers } from "./campaign_watchers.ts";

function events(store: KvStore): WatchEvent[] {
  const out: WatchEvent[] = [];
  store.history.forEachFrom(0, (e) => {
    out.push(e);
    return true;
  });
  return out;
}

/** Two replicas of one log; `upTo` entries applied on each. */
function replicas(writes: number, applied: [number, number]): [KvStore, KvStore] {
  const stores: [KvStore, KvStore] = [new KvStore(), new KvStore()];
  for (const [n, store] of stores.entries()) {
    for (let i = 1; i <= applied[n]; i++) {
      store.apply(i, { op: "put", key: `k${i % 3}`, value: `v${i}` });
    }
  }
  assert.ok(applied[0] <= writes && applied[1] <= writes);
  return stores;
}

Deno.test("watchers served by production hubs follow a leader change without loss", () => {
  for (let seed = 1; seed <= 8; seed++) {
    const watchers = new CampaignWatchers(seed, 0);
    const [a, b] = replicas(40, [20, 40]);
    watchers.poll(0, [{ term: 1, store: a }]);
    watchers.poll(0, [{ term: 1, store: a }, { term: 2, store: b }]);
    assert.deepEqual(watchers.check(events(b)), [], `seed ${seed}`);
  }
});

Deno.test("an event that is not in the committed sequence is reported", () => {
  const watchers = new CampaignWatchers(1, 0);
  const [a, b] = replicas(30, [20, 30]);
  watchers.poll(0, [{ term: 1, store: a }]);
  // Events past what the watcher was served (it was never served revision 21) are not owed.
  assert.deepEqual(watchers.check(events(b)), []);
  const withoutSeven = events(a).filter((e) => e.revision !== 7);
  assert.match(watchers.check(withoutSeven).join("\n"), /delivered 7:put.* committed sequence/);
});

Deno.test("resuming from the new leader's current revision is caught", () => {
  let caught = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const watchers = new CampaignWatchers(seed, 0, { resumeFromNow: true });
    const [a, b] = replicas(40, [20, 40]);
    watchers.poll(0, [{ term: 1, store: a }]);
    // The new leader is 20 revisions ahead when the watcher switches to it.
    watchers.poll(0, [{ term: 2, store: b }]);
    if (watchers.check(events(b)).some((p) => /lost 21:/.test(p))) caught++;
  }
  assert.equal(caught, 8);
});
