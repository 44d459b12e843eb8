/**
 * Link faults on a real 3-process cluster: every Raft link runs through a
 * relay that can cut it. An isolated leader is replaced and, once it sees it
 * lost its quorum, refuses writes with 503; a leader that can send but not
 * receive (an asymmetric partition) is replaced without disrupting the new
 * one; the client history stays linearizable throughout.
 */
import assert from "node:assert/strict";
import { checkKvHistory } from "@safla/sim/checkers";
import { waitFor } from "@safla/transports/host/testing";
import { KvHistory } from "./testing/kv_client.ts";
import { startRelayedCluster } from "./testing/partition_relay.ts";

const KEYS = ["x", "y"];
const CLIENTS = 3;
const MAX_OPS_PER_CLIENT = 2_000;
const CLIENT_TIMEOUT_MS = 4_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("partitions: isolated and one-way-cut leaders are replaced; minority writes get 503; history linearizable", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "partition-" });
  const { cluster, relay, ids } = await startRelayedCluster({
    clusterId: "partition",
    dataDir,
  });
  const history = new KvHistory(await cluster.adminToken());
  let running = true;
  const clients: Promise<void>[] = [];
  /**
   * Runs a step; if it fails, heals every link (so the next step starts from a
   * whole cluster) and adds what each node reports to the error.
   */
  const explained = async (step: () => Promise<void>): Promise<void> => {
    try {
      await step();
    } catch (error) {
      relay.healAll();
      const statuses = await Promise.all(ids.map(async (id) => {
        const s = await cluster.status(id);
        return s ? `${id}: ${s.role} term ${s.term} leader ${s.leader}` : `${id}: no status`;
      }));
      throw new Error(
        `${error instanceof Error ? error.message : error}; nodes: ${statuses.join(", ")}; ` +
          `client outcomes: ${JSON.stringify(history.counts)}`,
        { cause: error },
      );
    }
  };
  /** Waits until the node `old` follows a leader other than itself. */
  const followsAnother = (old: string) =>
    waitFor(`${old} to follow another leader`, async () => {
      const s = await cluster.status(old);
      return s !== undefined && s.role === "follower" && s.leader !== null && s.leader !== old;
    }, 10_000);
  try {
    await cluster.waitForLeader(30_000);
    await cluster.waitForReady(10_000);
    for (let c = 0; c < CLIENTS; c++) {
      clients.push((async () => {
        for (let i = 0; i < MAX_OPS_PER_CLIENT && running; i++) {
          const url = cluster.url(ids[(c + i) % ids.length]);
          const key = KEYS[(c + i) % KEYS.length];
          if (i % 3 === 2) await history.get(c, url, key, CLIENT_TIMEOUT_MS);
          else await history.put(c, url, key, `${c}-${i}`, CLIENT_TIMEOUT_MS);
          await sleep(5);
        }
      })());
    }

    await t.step(
      "an isolated leader is replaced and then refuses writes with 503",
      () =>
        explained(async () => {
          const leader = await cluster.waitForLeader(10_000);
          relay.isolate(leader);
          const next = await cluster.waitForLeader(10_000, [leader]);
          assert.notEqual(next, leader);
          const before = history.counts.ok;
          await waitFor(
            "writes through the majority",
            () => history.counts.ok > before + 20,
            10_000,
          );
          await waitFor("the old leader to step down", async () => {
            const s = await cluster.status(leader);
            return s !== undefined && s.role !== "leader";
          }, 10_000);
          const refused = await waitFor(
            "a 503 from the isolated node",
            async () => {
              const response = await cluster.adminFetch(leader, "/admin/kv/x", {
                method: "PUT",
                body: JSON.stringify({ value: "from the minority" }),
                signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
              });
              const body = await response.json() as { error: string };
              return response.status === 503 ? body : undefined;
            },
            15_000,
            100,
          );
          assert.match(refused.error, /cannot reach a leader/);
          relay.healAll();
          await followsAnother(leader);
        }),
    );

    await t.step("a leader that can send but not receive is replaced", () =>
      explained(async () => {
        const leader = await cluster.waitForLeader(10_000);
        for (const other of ids) if (other !== leader) relay.cut(other, leader);
        const next = await cluster.waitForLeader(10_000, [leader]);
        assert.notEqual(next, leader);
        const before = history.counts.ok;
        await waitFor("writes under the new leader", () => history.counts.ok > before + 20, 10_000);
        const term = (await cluster.status(next))!.term;
        // With PreVote, the deposed node's campaigns (one per 240-480 ms election
        // timeout) do not bump the cluster's term; one bump is allowed for a
        // stall of a loaded machine.
        await sleep(1_500);
        const after = await waitFor("a leader's status", () => cluster.status(next), 5_000);
        assert.ok(after.term <= term + 1, `term went from ${term} to ${after.term}`);
        relay.healAll();
        await followsAnother(leader);
      }));

    running = false;
    await Promise.all(clients);

    await t.step("the history is linearizable", async () => {
      await cluster.waitForReady(10_000);
      const url = cluster.url(await cluster.waitForLeader(10_000));
      for (const key of KEYS) {
        assert.equal(await history.get(99, url, key, CLIENT_TIMEOUT_MS), "ok");
      }
      const verdict = checkKvHistory(history.operations, { maxSteps: 2_000_000 });
      assert.equal(verdict.status, "linearizable", JSON.stringify(verdict).slice(0, 4000));
      assert.ok(history.counts.ok > 40, JSON.stringify(history.counts));
    });
  } finally {
    running = false;
    await Promise.allSettled(clients);
    await cluster.stop();
    history.close();
    await relay.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
