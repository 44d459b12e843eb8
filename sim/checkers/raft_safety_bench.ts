import { type EntryView, logViewFromEntries, RaftSafetyChecker } from "./raft_safety.ts";

const NODES = 5;
const EVENTS = 20_000;

/**
 * One leader appends an entry per event, replicates it to one follower in
 * turn and commits what a majority holds; every node is observed after every
 * event, as the simulator does.
 */
function run(): void {
  const checker = new RaftSafetyChecker();
  const ids = Array.from({ length: NODES }, (_, i) => `n${i}`);
  const logs: EntryView[][] = ids.map(() => []);
  const applied = ids.map(() => 0);
  for (let event = 1; event <= EVENTS; event++) {
    logs[0].push({ index: event, term: 1, dataHash: event });
    const follower = 1 + (event % (NODES - 1));
    const from = logs[follower].length;
    logs[follower].push(...logs[0].slice(from));
    const lengths = logs.map((l) => l.length).sort((x, y) => y - x);
    const commit = lengths[Math.floor(NODES / 2)];
    ids.forEach((id, n) => {
      const log = logs[n];
      const nodeCommit = Math.min(commit, log.length);
      const newlyApplied = log.slice(applied[n], nodeCommit);
      applied[n] = nodeCommit;
      const found = checker.observe(id, {
        term: 1,
        role: n === 0 ? "leader" : "follower",
        lead: "n0",
        commitIndex: nodeCommit,
        appliedIndex: nodeCommit,
        log: logViewFromEntries(log),
        newlyApplied,
      }, event);
      if (found.length > 0) throw new Error(JSON.stringify(found));
    });
  }
}

Deno.bench(`RaftSafetyChecker: ${NODES} nodes observed after each of ${EVENTS} events`, run);
