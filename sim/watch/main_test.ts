import assert from "node:assert/strict";
import { main } from "./main.ts";

Deno.test("sim/watch main: bad flags exit 2, a passing seed exits 0, a mutation exits 1", () => {
  const printed: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (line: string) => printed.push(line);
  console.error = () => {};
  try {
    assert.equal(main(["--nodes", "4"]), 2);
    assert.equal(main(["--mutation", "nonsense"]), 2);
    assert.equal(
      main(["--seed", "3", "--frobnicate"]),
      2,
      "an unknown flag is refused, not ignored",
    );
    assert.equal(main(["--seeds", "0"]), 2);
    assert.equal(main(["--seed=3"]), 0);
    assert.equal(JSON.parse(printed[0]).seed, 3);
    assert.equal(main(["--seed", "3", "--mutation", "resumeSkipsOne"]), 1);
  } finally {
    console.log = log;
    console.error = error;
  }
});
