import assert from "node:assert/strict";
import fc from "fast-check";
import {
  exposeNames,
  fitName,
  MIN_MAX_NAME_LENGTH,
  type NamingOptions,
  NamingOptionsError,
  type QualifiedName,
  shortHash,
} from "./naming.ts";

const prefixed: NamingOptions = { separator: "__", mode: "prefixed", maxLength: 64 };
const passthrough: NamingOptions = { separator: "__", mode: "passthrough", maxLength: 64 };

const NUM_RUNS = 200;

const segment = fc.string({ unit: fc.constantFrom("a", "b", "_", "-", "x", "é"), maxLength: 40 });
const entry = fc.record({ service: segment, name: segment });
const entries = fc.array(entry, { maxLength: 30 });
const options = fc.record({
  separator: fc.constantFrom("__", "_", ".", "-", "::"),
  mode: fc.constantFrom("prefixed" as const, "passthrough" as const),
  maxLength: fc.integer({ min: MIN_MAX_NAME_LENGTH, max: 80 }),
});

const key = (q: QualifiedName): string => `${q.service}\u0000${q.name}`;

Deno.test("naming: examples", async (t) => {
  await t.step("prefixed joins service, separator and name", () => {
    const table = exposeNames([{ service: "git", name: "status" }], prefixed);
    assert.deepEqual(table.names, [{ service: "git", name: "status", exposed: "git__status" }]);
    assert.deepEqual(table.resolve("git__status"), { service: "git", name: "status" });
    assert.equal(table.resolve("status"), undefined);
  });

  await t.step("the separator is configurable", () => {
    const table = exposeNames([{ service: "git", name: "status" }], {
      ...prefixed,
      separator: ".",
    });
    assert.equal(table.names[0].exposed, "git.status");
  });

  await t.step("passthrough keeps unique names and qualifies shared ones", () => {
    const table = exposeNames([
      { service: "a", name: "echo" },
      { service: "b", name: "echo" },
      { service: "b", name: "add" },
    ], passthrough);
    assert.deepEqual(table.names.map((n) => n.exposed), ["a__echo", "add", "b__echo"]);
    assert.deepEqual(table.collisions, []);
  });

  await t.step("replicas reporting the same name count once", () => {
    const table = exposeNames([
      { service: "a", name: "echo" },
      { service: "a", name: "echo" },
    ], prefixed);
    assert.equal(table.names.length, 1);
    assert.deepEqual(table.collisions, []);
  });

  await t.step("a long name is cut to 64 with a hash of the full name", () => {
    const name = "t".repeat(100);
    const table = exposeNames([{ service: "svc", name }], prefixed);
    const exposed = table.names[0].exposed;
    assert.equal(exposed.length, 64);
    assert.equal(exposed, `svc__${"t".repeat(50)}_${shortHash(`svc__${name}`)}`);
    assert.deepEqual(table.resolve(exposed), { service: "svc", name });
  });

  await t.step("two long names with a common prefix stay distinct", () => {
    const common = "x".repeat(70);
    const table = exposeNames([
      { service: "s", name: common + "1" },
      { service: "s", name: common + "2" },
    ], prefixed);
    assert.notEqual(table.names[0].exposed, table.names[1].exposed);
    assert.deepEqual(table.collisions, []);
  });

  await t.step("a collision keeps both claimants under distinct names and reports it", () => {
    const table = exposeNames([
      { service: "a__b", name: "c" },
      { service: "a", name: "b__c" },
    ], prefixed);
    assert.equal(table.names.length, 2);
    assert.equal(table.collisions.length, 1);
    const [collision] = table.collisions;
    assert.equal(collision.wanted, "a__b__c");
    assert.equal(collision.claimants.length, 2);
    const exposed = collision.claimants.map((c) => c.exposed);
    assert.notEqual(exposed[0], exposed[1]);
    for (const c of collision.claimants) {
      assert.ok(c.exposed.startsWith("a__b__c_"));
      assert.deepEqual(table.resolve(c.exposed), { service: c.service, name: c.name });
    }
  });

  await t.step("passthrough clash between a bare and a qualified name is reported", () => {
    const table = exposeNames([
      { service: "x", name: "git__status" },
      { service: "git", name: "status" },
      { service: "y", name: "status" },
    ], passthrough);
    assert.equal(table.collisions.length, 1);
    assert.equal(table.collisions[0].wanted, "git__status");
    assert.equal(table.names.length, 3);
  });

  await t.step("surrogate pairs are never split", () => {
    const name = "a".repeat(54) + "😀".repeat(10);
    const exposed = fitName(name, 64);
    assert.equal(exposed.length <= 64, true);
    const stem = exposed.slice(0, -9);
    assert.equal(stem, "a".repeat(54));
  });

  await t.step("bad options are rejected with a message naming the option", () => {
    assert.throws(
      () => exposeNames([], { ...prefixed, separator: "" }),
      (e: unknown) => e instanceof NamingOptionsError && /separator/.test(e.message),
    );
    assert.throws(
      () => exposeNames([], { ...prefixed, maxLength: 3 }),
      (e: unknown) => e instanceof NamingOptionsError && /maxLength/.test(e.message),
    );
  });
});

Deno.test("naming: properties", async (t) => {
  await t.step("every input gets exactly one exposed name, none dropped", () => {
    fc.assert(
      fc.property(entries, options, (input, opts) => {
        const table = exposeNames(input, opts);
        const wanted = new Set(input.map(key));
        assert.equal(table.names.length, wanted.size);
        for (const n of table.names) assert.ok(wanted.has(key(n)));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  await t.step("exposed names are unique, within maxLength and resolve back", () => {
    fc.assert(
      fc.property(entries, options, (input, opts) => {
        const table = exposeNames(input, opts);
        const seen = new Set<string>();
        for (const n of table.names) {
          assert.ok(n.exposed.length <= opts.maxLength);
          assert.ok(!seen.has(n.exposed));
          seen.add(n.exposed);
          assert.deepEqual(table.resolve(n.exposed), { service: n.service, name: n.name });
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  await t.step("the result does not depend on input order", () => {
    fc.assert(
      fc.property(
        entries.chain((input) =>
          fc.tuple(
            fc.constant(input),
            fc.shuffledSubarray(input, {
              minLength: input.length,
              maxLength: input.length,
            }),
          )
        ),
        options,
        ([input, shuffled], opts) => {
          const a = exposeNames(input, opts);
          const b = exposeNames(shuffled, opts);
          assert.deepEqual(a.names, b.names);
          assert.deepEqual(a.collisions, b.collisions);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  await t.step("short names without clashes are exactly service+sep+name", () => {
    fc.assert(
      fc.property(entries, (input) => {
        const table = exposeNames(input, prefixed);
        const clashed = new Set(table.collisions.flatMap((c) => c.claimants.map(key)));
        for (const n of table.names) {
          const natural = `${n.service}__${n.name}`;
          if (natural.length <= 64 && !clashed.has(key(n))) assert.equal(n.exposed, natural);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });

  await t.step("a collision is reported exactly when natural names coincide", () => {
    fc.assert(
      fc.property(entries, options, (input, opts) => {
        const table = exposeNames(input, opts);
        const counts = new Map<string, number>();
        const bareOk = new Map<string, Set<string>>();
        for (const q of input) {
          const services = bareOk.get(q.name) ?? new Set();
          services.add(q.service);
          bareOk.set(q.name, services);
        }
        const distinct = new Map(input.map((q) => [key(q), q]));
        for (const q of distinct.values()) {
          const bare = opts.mode === "passthrough" && bareOk.get(q.name)!.size === 1;
          const natural = fitName(
            bare ? q.name : `${q.service}${opts.separator}${q.name}`,
            opts.maxLength,
          );
          counts.set(natural, (counts.get(natural) ?? 0) + 1);
        }
        const expected = [...counts].filter(([, c]) => c > 1).map(([n]) => n).sort();
        assert.deepEqual(table.collisions.map((c) => c.wanted).sort(), expected);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
