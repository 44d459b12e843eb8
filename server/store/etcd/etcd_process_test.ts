import assert from "node:assert/strict";
import { EtcdStartError, startEtcdCluster } from "./etcd_process.ts";
import { IGNORE_WITHOUT_ETCD } from "./etcd_presence.ts";

Deno.test("startEtcdCluster", async (t) => {
  await t.step("a missing etcd executable fails with an install hint", async () => {
    await assert.rejects(
      startEtcdCluster({ etcdBinary: "/nonexistent/etcd", members: 1 }),
      (error: unknown) => {
        assert.ok(error instanceof EtcdStartError);
        assert.match(error.message, /"\/nonexistent\/etcd" not found/);
        assert.match(error.message, /etcd-server/);
        return true;
      },
    );
  });

  await t.step("bad member counts are refused before anything starts", async () => {
    await assert.rejects(startEtcdCluster({ members: 0 }), RangeError);
    await assert.rejects(startEtcdCluster({ members: 2.5 }), RangeError);
  });

  await t.step({
    name: "a member that cannot start fails with its log tail",
    ignore: IGNORE_WITHOUT_ETCD,
    fn: async () => {
      // An election timeout below 5 heartbeats is refused by etcd at startup.
      await assert.rejects(
        startEtcdCluster({
          members: 1,
          heartbeatIntervalMs: 100,
          electionTimeoutMs: 200,
          startTimeoutMs: 20_000,
        }),
        (error: unknown) => {
          assert.ok(error instanceof EtcdStartError);
          assert.match(error.message, /member m0 exited with code [1-9]/);
          assert.ok(error.logTail.length > 0, "the log tail is attached");
          return true;
        },
      );
    },
  });

  await t.step({
    name: "stop removes the data and no member keeps running",
    ignore: IGNORE_WITHOUT_ETCD,
    fn: async () => {
      const cluster = await startEtcdCluster({ members: 1 });
      assert.equal(await cluster.leaderIndex(), 0);
      const response = await fetch(`${cluster.clientUrls[0]}/health`);
      assert.equal((await response.json()).health, "true");
      await cluster.stop();
      await assert.rejects(Deno.stat(cluster.baseDir), Deno.errors.NotFound);
      await assert.rejects(fetch(`${cluster.clientUrls[0]}/health`));
    },
  });
});
