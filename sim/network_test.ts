import assert from "node:assert/strict";
import { SeededRng } from "@safla/core";
import { DEFAULT_NETWORK, type NetworkConfig, SimNetwork } from "./network.ts";
import { Scheduler } from "./scheduler.ts";

function setup(config: Partial<NetworkConfig> = {}) {
  const s = new Scheduler();
  const got: Array<[string, string, number]> = [];
  const net = new SimNetwork<number>(
    s,
    new SeededRng(7),
    { ...DEFAULT_NETWORK, ...config },
    () => 100,
    (from, to, m) => got.push([from, to, m]),
  );
  return { s, net, got };
}

Deno.test("network delivers after at least the minimum latency", () => {
  const { s, net, got } = setup();
  net.send("a", "b", 1);
  s.runUntil(DEFAULT_NETWORK.latencyMinUs - 1, 100);
  assert.equal(got.length, 0);
  s.runUntil(1_000_000, 100);
  assert.deepEqual(got, [["a", "b", 1]]);
});

Deno.test("partitions: symmetric, one-way, isolate, bridge, heal", async (t) => {
  await t.step("symmetric", () => {
    const { net } = setup();
    net.partition([["a", "b"], ["c"]]);
    assert.equal(net.connected("a", "c"), false);
    assert.equal(net.connected("c", "b"), false);
    assert.equal(net.connected("a", "b"), true);
  });
  await t.step("one-way", () => {
    const { net } = setup();
    net.blockOneWay("a", "b");
    assert.equal(net.connected("a", "b"), false);
    assert.equal(net.connected("b", "a"), true);
  });
  await t.step("isolate", () => {
    const { net } = setup();
    net.isolate("b", ["a", "b", "c"]);
    assert.equal(net.connected("a", "b"), false);
    assert.equal(net.connected("b", "c"), false);
    assert.equal(net.connected("a", "c"), true);
  });
  await t.step("bridge", () => {
    const { net } = setup();
    net.bridge(["a", "b"], "c", ["d", "e"]);
    assert.equal(net.connected("a", "d"), false);
    assert.equal(net.connected("a", "c"), true);
    assert.equal(net.connected("c", "e"), true);
    assert.throws(() => net.bridge(["a"], "a", ["b"]), RangeError);
  });
  await t.step("heal and in-flight cut", () => {
    const { s, net, got } = setup();
    net.send("a", "b", 1);
    net.partition([["a"], ["b"]]);
    s.runUntil(1_000_000, 100);
    assert.equal(got.length, 0);
    net.heal();
    net.send("a", "b", 2);
    s.runUntil(2_000_000, 100);
    assert.deepEqual(got, [["a", "b", 2]]);
  });
});

Deno.test("loss, duplication and reordering happen at their rates", () => {
  const { s, net, got } = setup({ lossRate: 0.2, duplicateRate: 0.1, reorderRate: 0.2 });
  for (let i = 0; i < 2000; i++) net.send("a", "b", i);
  s.runUntil(100_000_000, 100_000);
  const unique = new Set(got.map((g) => g[2]));
  assert.ok(unique.size > 1400 && unique.size < 1800, `delivered ${unique.size}`);
  assert.ok(got.length > unique.size, "some duplicates");
  const inversions = got.filter((g, i) => i > 0 && g[2] < got[i - 1][2]).length;
  assert.ok(inversions > 10, `inversions ${inversions}`);
});

Deno.test("capacity queues messages and clogging holds them", () => {
  const { s, net, got } = setup({ capacityBytesPerMs: 100, latencyMeanExtraUs: 0 });
  net.send("a", "b", 1);
  net.send("a", "b", 2);
  // 100 bytes at 100 bytes/ms: the second message leaves 1ms after the first.
  s.runUntil(1_000 + DEFAULT_NETWORK.latencyMinUs + 1, 100);
  assert.equal(got.length, 1);
  s.runUntil(2_000 + DEFAULT_NETWORK.latencyMinUs + 1, 100);
  assert.equal(got.length, 2);
  net.clog("a", "b", 50_000);
  net.send("a", "b", 3);
  s.runUntil(49_000, 100);
  assert.equal(got.length, 2);
  s.runUntil(60_000, 100);
  assert.equal(got.length, 3);
});

Deno.test("a message over maxMessageBytes is dropped and counted, one at the limit delivered", () => {
  const { s, net, got } = setup({ maxMessageBytes: 100 });
  net.send("a", "b", 1);
  s.runUntil(1_000_000, 100);
  assert.deepEqual(got, [["a", "b", 1]]);
  const small = setup({ maxMessageBytes: 99 });
  small.net.send("a", "b", 2);
  small.s.runUntil(1_000_000, 100);
  assert.deepEqual(small.got, []);
  assert.equal(small.net.stats.oversized, 1);
  assert.equal(small.net.stats.dropped, 1);
  assert.equal(small.net.stats.largestMessageBytes, 100);
});
