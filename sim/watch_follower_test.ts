import assert from "node:assert/strict";
import { encodeCommand, KvStore } from "@safla/core/state";
import { allEvents, WatchFollower } from "./watch_follower.ts";

function storeWith(puts: number): KvStore {
  const store = new KvStore();
  for (let i = 1; i <= puts; i++) {
    store.applyEntry(i, encodeCommand({ op: "put", key: `k${i % 3}`, value: `v${i}` }));
  }
  return store;
}

Deno.test("a follower that resumes from the next unseen revision matches the history", () => {
  const behind = storeWith(3);
  const ahead = storeWith(6);
  const w = new WatchFollower();
  w.poll([{ term: 1, history: behind.history }]);
  w.poll([{ term: 1, history: behind.history }, { term: 2, history: ahead.history }]);
  assert.deepEqual(w.events.map((e) => e.revision), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(w.check(allEvents(ahead.history)), []);
});

Deno.test("resuming from the new leader's latest revision loses events, and check says so", () => {
  const first = storeWith(3);
  const next = storeWith(6);
  const w = new WatchFollower({ resumeFromNow: true });
  w.poll([{ term: 1, history: first.history }]);
  w.poll([{ term: 2, history: next.history }]);
  assert.deepEqual(w.events.map((e) => e.revision), [1, 2, 3]);
  next.applyEntry(7, encodeCommand({ op: "put", key: "k", value: "late" }));
  w.poll([{ term: 2, history: next.history }]);
  const problems = w.check(allEvents(next.history));
  assert.ok(problems.some((p) => /revision 4 was lost between 3 and 7/.test(p)), problems.join());
});

Deno.test("a history that disagrees with the canonical one is reported", () => {
  const a = storeWith(2);
  const b = new KvStore();
  b.applyEntry(1, encodeCommand({ op: "put", key: "k1", value: "v1" }));
  b.applyEntry(2, encodeCommand({ op: "put", key: "k2", value: "other" }));
  const w = new WatchFollower();
  w.poll([{ term: 1, history: b.history }]);
  assert.ok(w.check(allEvents(a.history)).some((p) => p.startsWith("revision 2: delivered")));
});
