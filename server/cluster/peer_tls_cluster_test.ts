/**
 * Three node processes whose Raft traffic runs over mutual TLS: they elect a
 * leader and replicate; a node restarted with a certificate of another CA
 * (the cluster secret it still holds) is shut out; a dialler without a
 * certificate is refused.
 */
import assert from "node:assert/strict";
import type { NodeId } from "@safla/core";
import { waitFor } from "@safla/transports/host/testing";
import { makeTestPki } from "@safla/transports/peer/tls_testing";
import { generateSecret } from "./cluster_args.ts";
import { LocalCluster } from "./local_cluster.ts";

const tlsArgs = (files: { certFile: string; keyFile: string; caFile: string }) => [
  "--peer-tls-cert",
  files.certFile,
  "--peer-tls-key",
  files.keyFile,
  "--peer-tls-ca",
  files.caFile,
  "--peer-mtls",
];

Deno.test("a 3-node cluster over mutual TLS elects, replicates and shuts out a node of another CA", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "safla-peer-tls-cluster-" });
  const pki = await makeTestPki(`${dataDir}/pki`, "cluster-ca", ["node"]);
  const other = await makeTestPki(`${dataDir}/pki`, "other-ca", ["node"]);
  const logs = new Map<NodeId, string[]>();
  const cluster = await LocalCluster.start({
    nodes: 3,
    basePort: 0,
    dataDir,
    secret: generateSecret(),
    nodeArgs: tlsArgs(pki.files("node")),
    onLog: (id, line) => logs.set(id, [...(logs.get(id) ?? []), line]),
  });
  try {
    const leader = await cluster.waitForLeader(30_000);
    // Every node applies what the leader committed in its term: replication over TLS.
    const committed = (await cluster.status(leader))!.commitIndex;
    await waitFor("every node to apply the leader's entries", async () => {
      const statuses = await Promise.all(cluster.ids.map((id) => cluster.status(id)));
      return statuses.every((s) => s !== undefined && s.appliedIndex >= committed);
    }, 15_000);

    const outsider = cluster.ids.find((id) => id !== leader)!;
    await cluster.kill(outsider);
    cluster.startNode(outsider, tlsArgs(other.files("node")));
    await waitFor(
      "the outsider's TLS failures in its log",
      () => (logs.get(outsider) ?? []).some((l) => /TLS with .* failed/.test(l)),
      15_000,
    );
    await waitFor(
      "a member to refuse the outsider's certificate",
      () =>
        cluster.ids.filter((id) => id !== outsider).some((id) =>
          (logs.get(id) ?? []).some((l) =>
            l.includes("rejected peer connection") && l.includes("TLS")
          )
        ),
      15_000,
    );
    const status = await cluster.status(outsider);
    assert.ok(status !== undefined, "the outsider serves its status");
    assert.equal(status.leader, null, "the outsider heard from no leader");
    assert.equal(status.peerInbound.authenticated, 0);
    assert.equal(await cluster.waitForLeader(10_000, [outsider]), leader);

    // A dialler without a certificate does not get past TLS.
    const peer = cluster.members[leader].peer;
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: Number(peer.slice(peer.lastIndexOf(":") + 1)),
      caCerts: [await Deno.readTextFile(pki.files("node").caFile)],
    });
    const refused = await conn.handshake().then(() => conn.read(new Uint8Array(16))).then(
      (n) => n === null,
      () => true,
    );
    try {
      conn.close();
    } catch { /* closed by the node */ }
    assert.ok(refused, "a dialler without a certificate got through");
  } finally {
    await cluster.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
