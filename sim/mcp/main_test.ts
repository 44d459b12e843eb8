import assert from "node:assert/strict";
import { main } from "./main.ts";

Deno.test("sim/mcp main: a missing scenario, a bad seed or an unknown flag exits 2", () => {
  const errors: string[] = [];
  const error = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    assert.equal(main([]), 2);
    assert.match(errors[0], /--scenario is required/);
    assert.equal(main(["--scenario", "nope"]), 2);
    assert.match(errors[1], /--scenario must be one of: .*slow-replica/);
    assert.equal(main(["--scenario", "slow-replica", "--seed", "x"]), 2);
    assert.equal(main(["--scenario", "slow-replica", "--seeds", "3"]), 2);
    assert.match(errors[3], /unknown flag "--seeds"/);
  } finally {
    console.error = error;
  }
});
