import { JointConfig } from "./joint.ts";
import { MajorityConfig } from "./majority.ts";

// committedIndex runs on every append response a leader handles, so its cost
// per call bounds the leader's acknowledgement throughput.
for (const voterCount of [3, 5, 7]) {
  const ids = Array.from({ length: voterCount }, (_, i) => `n${i}`);
  const acked = new Map(ids.map((id, i) => [id, 1000 + ((i * 7919) % 97)]));
  const ack = (id: string): number | undefined => acked.get(id);
  const majority = new MajorityConfig(ids);
  Deno.bench(`MajorityConfig.committedIndex, ${voterCount} voters`, { group: "committed" }, () => {
    majority.committedIndex(ack);
  });
  const joint = new JointConfig(majority, new MajorityConfig(ids.slice(1).concat("x")));
  Deno.bench(`JointConfig.committedIndex, ${voterCount} voters`, { group: "committed" }, () => {
    joint.committedIndex(ack);
  });
  const votes = new Map(ids.map((id, i) => [id, i % 3 !== 0]));
  Deno.bench(`MajorityConfig.voteResult, ${voterCount} voters`, { group: "votes" }, () => {
    majority.voteResult(votes);
  });
}
