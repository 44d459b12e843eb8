import assert from "node:assert/strict";
import fc from "fast-check";
import { parseStoreOption, StoreOptionError } from "./parse.ts";

Deno.test("parseStoreOption", async (t) => {
  await t.step("absent or raft selects the embedded store", () => {
    assert.deepEqual(parseStoreOption(undefined), { engine: "raft" });
    assert.deepEqual(parseStoreOption("raft"), { engine: "raft" });
  });

  await t.step("etcd endpoints in order, IPv6 in brackets, spaces trimmed", () => {
    assert.deepEqual(parseStoreOption("etcd://10.0.0.1:2379, etcd-b.internal:2379,[::1]:32379"), {
      engine: "etcd",
      endpoints: ["10.0.0.1:2379", "etcd-b.internal:2379", "[::1]:32379"],
    });
    assert.deepEqual(parseStoreOption("ETCD://localhost:1"), {
      engine: "etcd",
      endpoints: ["localhost:1"],
    });
  });

  const refusals: [string, string][] = [
    ["", "the value is empty"],
    ["localhost:2379", "missing the etcd:// scheme"],
    ["http://localhost:2379", 'unsupported scheme "http://"'],
    ["etcd://", "no endpoints after etcd://"],
    ["etcd://a:1,,b:2", "endpoint 2 is empty"],
    ["etcd://localhost", 'endpoint 1 ("localhost"): missing ":port"'],
    ["etcd://:2379", "missing host"],
    ["etcd://host:http", 'port "http" is not a number'],
    ["etcd://host:0", "port 0 is outside 1..65535"],
    ["etcd://host:65536", "port 65536 is outside 1..65535"],
    ["etcd://host:123456", 'port "123456" is not a number'],
    ["etcd://a:1,b:2,a:1", 'endpoint 3 ("a:1") is listed twice'],
    ["etcd://user:pw@host:2379", "credentials in the URL are not supported"],
    ["etcd://host:2379/v3", "a path, query or fragment is not allowed"],
    ["etcd://::1:2379", "put an IPv6 address in brackets"],
    ["etcd://[::1]", 'missing ":port" after the IPv6 address'],
    ["etcd://[::1:2379", '"[" without a closing "]"'],
    ["etcd://[zz]:1", '"zz" is not an IPv6 address'],
    ["etcd://bad_host:1", '"bad_host" is not a valid host name'],
  ];
  for (const [value, problem] of refusals) {
    await t.step(`refuses ${JSON.stringify(value)}: ${problem}`, () => {
      assert.throws(() => parseStoreOption(value), (error: unknown) => {
        assert.ok(error instanceof StoreOptionError);
        assert.equal(error.value, value);
        assert.ok(error.message.includes(problem), error.message);
        assert.ok(error.message.includes("etcd://host:port"), "the message shows the form");
        return true;
      });
    });
  }

  await t.step("refuses more than 64 endpoints", () => {
    const many = Array.from({ length: 65 }, (_, i) => `h${i}:1`).join(",");
    assert.throws(() => parseStoreOption(`etcd://${many}`), /65 endpoints; at most 64/);
  });

  await t.step("every list of distinct host:port endpoints round-trips", () => {
    const host = fc.oneof(
      fc.ipV4(),
      fc.domain().filter((d) => d.length <= 200),
    );
    const endpoint = fc.tuple(host, fc.integer({ min: 1, max: 65_535 }))
      .map(([h, p]) => `${h}:${p}`);
    fc.assert(
      fc.property(fc.uniqueArray(endpoint, { minLength: 1, maxLength: 8 }), (endpoints) => {
        const spec = parseStoreOption(`etcd://${endpoints.join(",")}`);
        assert.deepEqual(spec, { engine: "etcd", endpoints });
      }),
      { numRuns: 200 },
    );
  });
});
