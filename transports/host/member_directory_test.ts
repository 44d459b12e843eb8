import assert from "node:assert/strict";
import { MemberAddressError, MemberDirectory, validateMemberAddress } from "./member_directory.ts";
import { DEFAULT_TIMING, validateTiming } from "./timing.ts";

Deno.test("MemberDirectory: survives a restart; the command line overrides the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "members-" });
  try {
    const file = `${dir}/members.json`;
    const a = { peer: "127.0.0.1:9001", url: "http://127.0.0.1:8001" };
    const first = await MemberDirectory.load(file, { a });
    assert.equal(first.set("b", { peer: "127.0.0.1:9002", url: "http://127.0.0.1:8002" }), true);
    assert.equal(first.set("b", { peer: "127.0.0.1:9002", url: "http://127.0.0.1:8002" }), false);
    await first.save();
    const moved = { peer: "10.0.0.1:9001", url: "http://10.0.0.1:8001" };
    const second = await MemberDirectory.load(file, { a: moved });
    assert.deepEqual(second.entries().map(([id]) => id), ["a", "b"]);
    assert.deepEqual(second.get("a"), moved);
    assert.equal(second.delete("b"), true);
    assert.equal(second.get("b"), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validateMemberAddress names the bad field", () => {
  const cases: Array<[unknown, string]> = [
    [null, "m"],
    [{ peer: "nohost", url: "http://a:1" }, "m.peer"],
    [{ peer: "a:99999", url: "http://a:1" }, "m.peer"],
    [{ peer: "a:1", url: "ftp://a:1" }, "m.url"],
    [{ peer: "a:1", url: "http://a:1/path" }, "m.url"],
  ];
  for (const [raw, field] of cases) {
    assert.throws(() => validateMemberAddress("m", raw), (error: unknown) => {
      assert.ok(error instanceof MemberAddressError);
      assert.equal(error.field, field);
      return true;
    });
  }
  assert.deepEqual(validateMemberAddress("m", { peer: "[::1]:9000", url: "http://[::1]:8000" }), {
    peer: "[::1]:9000",
    url: "http://[::1]:8000",
  });
});

Deno.test("validateTiming accepts the defaults and refuses timeouts that cannot work", () => {
  validateTiming(DEFAULT_TIMING);
  assert.throws(() => validateTiming({ ...DEFAULT_TIMING, tickMs: 0 }), /tickMs/);
  assert.throws(() => validateTiming({ ...DEFAULT_TIMING, heartbeatTicks: 0 }), /heartbeatTicks/);
  assert.throws(() => validateTiming({ ...DEFAULT_TIMING, electionTicks: 1 }), /electionTicks/);
});
