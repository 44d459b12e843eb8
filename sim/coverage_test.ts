import assert from "node:assert/strict";
import { formatCoverage, summarizeLcov } from "./coverage.ts";

Deno.test("lcov records are summed per area of the core, tests and benches left out", () => {
  const lcov = [
    "SF:file:///repo/core/raft/log.ts",
    "BRF:10",
    "BRH:7",
    "LF:100",
    "LH:90",
    "end_of_record",
    "SF:file:///repo/core/raft/log_test.ts",
    "BRF:50",
    "BRH:50",
    "end_of_record",
    "SF:file:///repo/core/state/kv.ts",
    "BRF:4",
    "BRH:1",
    "LF:10",
    "LH:5",
    "end_of_record",
    "SF:file:///repo/core/node/node.ts",
    "BRF:8",
    "BRH:8",
    "end_of_record",
  ].join("\n");
  const s = summarizeLcov(lcov, "/repo/");
  assert.deepEqual(s["core/raft/"], {
    branchesHit: 7,
    branchesFound: 10,
    linesHit: 90,
    linesFound: 100,
  });
  assert.deepEqual(s["core/state/"], {
    branchesHit: 1,
    branchesFound: 4,
    linesHit: 5,
    linesFound: 10,
  });
  assert.match(formatCoverage(s), /core\/raft\/ +branches 7\/10 \(70.0 %\)/);
});
