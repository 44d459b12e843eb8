// Microbenchmarks of the Raft core over the synchronous in-memory test network.
import { TestNetwork } from "./network_test.ts";

const payload = "x".repeat(128);

Deno.bench("3-node cluster: propose + replicate + commit + apply, 100 entries of 128 B", (b) => {
  const net = new TestNetwork(["a", "b", "c"], { bootstrap: true });
  net.campaign("a");
  b.start();
  for (let i = 0; i < 100; i++) net.propose("a", payload);
  b.end();
});

Deno.bench("3-node cluster: elect a leader from scratch", () => {
  const net = new TestNetwork(["a", "b", "c"], { bootstrap: true, config: { preVote: true } });
  net.campaign("a");
});

Deno.bench("3-node cluster: 100 heartbeat ticks of an idle leader", (b) => {
  const net = new TestNetwork(["a", "b", "c"], { bootstrap: true, config: { checkQuorum: true } });
  net.campaign("a");
  b.start();
  net.tickAll(100);
  b.end();
});
