// Quorum recovery on real node processes: 2 of 3 nodes die for good, the
// survivor restarts with --force-new-cluster as a cluster of one from its
// data, takes writes, and the other two rejoin empty, as learners first.
import assert from "node:assert/strict";
import { waitFor } from "@safla/transports/host/testing";
import { generateSecret } from "./cluster_args.ts";
import { LocalCluster } from "./local_cluster.ts";

const REQUEST_TIMEOUT_MS = 2_000;

Deno.test({
  name: "quorum recovery: kill 2 of 3, force a new cluster from the survivor, write, re-add both",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dataDir = await Deno.makeTempDir({ prefix: "quorum-recovery-" });
    const logs: string[] = [];
    const cluster = await LocalCluster.start({
      nodes: 3,
      basePort: 0,
      dataDir,
      secret: generateSecret(),
      clusterId: "quorum-recovery",
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      onLog: (id, line) => logs.length < 5_000 && logs.push(`${id}: ${line}`),
    });
    const put = (id: string, key: string, value: string) =>
      cluster.adminFetch(id, `/admin/kv/${key}`, {
        method: "PUT",
        body: JSON.stringify({ value }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS * 2),
      });
    const localValue = async (id: string, key: string) => {
      const response = await cluster.adminFetch(id, `/admin/kv/${key}?consistency=serializable`, {
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const body = await response.json() as { kv?: { value: string } };
      return body.kv?.value;
    };
    try {
      const leader = await cluster.waitForLeader(30_000);
      await cluster.waitForReady(10_000);
      for (let i = 0; i < 20; i++) {
        const r = await put(leader, `before/${i}`, `v${i}`);
        assert.equal(r.status, 200, await r.text());
      }
      const survivor = "n1";
      await waitFor(
        "n1 to apply every write",
        async () => await localValue(survivor, "before/19") === "v19",
        10_000,
      );

      await t.step("with 2 of 3 dead, writes are refused for good", async () => {
        await cluster.kill("n2");
        await cluster.kill("n3");
        const refused = await waitFor(
          "a refused write",
          async () => {
            const r = await put(survivor, "lost", "x").catch(() => undefined);
            if (r === undefined) return false;
            await r.body?.cancel();
            return r.status === 503;
          },
          15_000,
          100,
        );
        assert.ok(refused);
      });

      await t.step("--force-new-cluster restarts the survivor as a cluster of one", async () => {
        await cluster.kill(survivor, "SIGTERM");
        cluster.startNode(survivor, ["--force-new-cluster"]);
        await waitFor(
          "the survivor to lead alone",
          async () => {
            const s = await cluster.status(survivor);
            return s?.role === "leader" && s.members.voters.join() === survivor;
          },
          30_000,
          100,
        );
        assert.ok(logs.some((l) => /forced a new cluster of one/.test(l)), logs.join("\n"));
        for (let i = 0; i < 20; i++) {
          assert.equal(await localValue(survivor, `before/${i}`), `v${i}`);
        }
        const r = await put(survivor, "after", "recovered");
        assert.equal(r.status, 200, await r.text());
      });

      await t.step("the dead members rejoin empty, as learners, and are promoted", async () => {
        for (const id of ["n2", "n3"]) {
          await Deno.remove(`${dataDir}/${id}`, { recursive: true });
          cluster.startNode(id, ["--join"]);
          const added = await cluster.adminFetch(survivor, "/admin/members", {
            method: "POST",
            body: JSON.stringify({ id, ...cluster.members[id], catchUpTimeoutMs: 30_000 }),
          });
          const body = await added.json();
          assert.equal(added.status, 200, JSON.stringify(body));
          assert.equal(body.promoted, true);
        }
        const status = await cluster.status(survivor);
        assert.deepEqual(status?.members.voters, ["n1", "n2", "n3"]);
        const r = await put(survivor, "rejoined", "yes");
        assert.equal(r.status, 200, await r.text());
        for (const id of cluster.ids) {
          await waitFor(
            `${id} to hold the data`,
            async () =>
              await localValue(id, "rejoined") === "yes" &&
              await localValue(id, "before/7") === "v7",
            15_000,
            100,
          );
        }
      });
    } finally {
      await cluster.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
