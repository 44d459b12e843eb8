import assert from "node:assert/strict";
import { clusterStateKey } from "./cluster_node.ts";
import { clusterAuthToken } from "../store/raft/raft_store.ts";

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

// Known answers (HMAC-SHA-256 computed outside Deno): nodes of one cluster that run
// different builds must still derive the same forwarding token and state key.
Deno.test("keys derived from the cluster secret are HMAC-SHA-256 of their labels", async () => {
  const secret = "a-long-enough-secret";
  assert.equal(
    await clusterAuthToken(secret),
    "54b494ea33cd27020a51d771d6a329654230c1ea675eee61ce813b16ecea4818",
  );
  assert.equal(
    hex(await clusterStateKey(secret)),
    "9f4b932c97cb7f26bce3b33e1cca4f29347d70a8cb398d6f567d35373ebbd0bc",
  );
});
