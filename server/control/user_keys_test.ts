import assert from "node:assert/strict";
import fc from "fast-check";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { startClusterNode } from "../cluster/cluster_node.ts";
import { storeKeyOf, USER_KEY_PREFIX, userKeyOf, UserKeySpace } from "./user_keys.ts";

/** Spellings an attacker tries for the gateway's prefix, mixed into the random ones. */
const TRICKS = [
  "",
  "/",
  "/g",
  "/gatewa",
  "/gateway",
  "/gateway/",
  "/gateway/sessions/",
  "../gateway/",
  "/user/../gateway/",
  "%2Fgateway%2F",
  "%2fgateway",
  "\u2215gateway\u2215", // division slash
  "\uff0fgateway\uff0f", // fullwidth solidus
  "/GATEWAY/",
  "\u0000/gateway/",
  "/gate\u200bway/",
];

const userStrings = fc.oneof(
  fc.constantFrom(...TRICKS),
  fc.string({ unit: "grapheme", maxLength: 24 }),
  fc.string({ unit: "binary", maxLength: 24 }),
  fc.constantFrom(...TRICKS).chain((t) => fc.string({ maxLength: 8 }).map((s) => t + s)),
);

/** A key the gateway keeps: everything that is not under the user prefix. */
const gatewayKeys = fc.oneof(
  fc.constantFrom(
    "/gateway/sessions/",
    "/gateway/services/",
    "/gateway/policies/",
    "/gateway/audit/",
  )
    .chain((p) => fc.string({ unit: "binary", maxLength: 16 }).map((s) => p + s)),
  fc.string({ unit: "binary", maxLength: 24 }).filter((k) => !k.startsWith(USER_KEY_PREFIX)),
);

Deno.test("user keys: no user key or prefix reaches a store key outside /user/", () => {
  fc.assert(
    fc.property(userStrings, gatewayKeys, (user, gatewayKey) => {
      const mapped = storeKeyOf(user);
      assert.ok(mapped.startsWith(USER_KEY_PREFIX));
      // As a key: never equal to a gateway key. As a prefix: never covering one.
      assert.notEqual(mapped, gatewayKey);
      assert.ok(!gatewayKey.startsWith(mapped), `${JSON.stringify(user)} covers ${gatewayKey}`);
      assert.equal(userKeyOf(mapped), user);
    }),
    { numRuns: 5_000 },
  );
  assert.throws(() => userKeyOf("/gateway/sessions/x"), /outside the user key space/);
});

Deno.test({
  name: "user keys: random operations through the user space never see or change a gateway key",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "user-keys-" });
    const node = await startClusterNode({
      nodeId: "n1",
      clusterId: "user-keys",
      secret: "user-keys-test-secret",
      dataDir: `${dir}/n1`,
      members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
      requestTimeoutMs: 2_000,
    });
    try {
      await waitFor("a leader", () => node.host.status().role === "leader", 5_000);
      const store = node.store;
      const reserved = [
        "/gateway/sessions/s1",
        "/gateway/services/svc",
        "/gatewayx",
        "/a",
        "/user",
      ];
      for (const key of reserved) await store.put(key, "kept");
      const kv = new UserKeySpace(store);
      const seen: string[] = [];
      const ops = fc.oneof(
        userStrings.map((p) => async () => {
          const reply = await kv.range(p, { limit: 100 });
          seen.push(...reply.kvs.map((r) => r.value));
        }),
        userStrings.map((p) => async () => {
          if (p === "") return;
          const reply = await kv.delete(p, { prefix: true, prevKv: true });
          seen.push(...reply.prev.map((r) => r.value));
        }),
        userStrings.filter((k) => k !== "").map((k) => async () => {
          await kv.put(k, "user");
          const got = await kv.get(k);
          assert.equal(got?.key, k);
        }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(ops, { maxLength: 6 }), async (run) => {
          for (const op of run) await op();
          for (const key of reserved) {
            assert.equal((await store.get(key))?.value, "kept", `${key} changed`);
          }
        }),
        { numRuns: 60 },
      );
      // Users write only "user": a "kept" among what they read would be a gateway record.
      assert.ok(seen.length > 0, "the runs read something back");
      assert.ok(seen.every((value) => value === "user"));
      assert.equal((await store.range("/gateway/", { limit: 10 })).kvs.length, 2);
    } finally {
      await node.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
