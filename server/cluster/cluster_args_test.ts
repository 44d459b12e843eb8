import assert from "node:assert/strict";
import fc from "fast-check";
import {
  FlagError,
  formatPeers,
  generateSecret,
  localMembers,
  MIN_SECRET_LENGTH,
  parsePeers,
  parseStorageFlags,
  STORAGE_FLAGS,
  validateSecret,
} from "./cluster_args.ts";
import { DEFAULT_HOST_TUNABLES } from "@safla/transports/host";
import { claimDataDir } from "./launcher.ts";

Deno.test("parsePeers: HTTP address with the Raft port derived or given", () => {
  const members = parsePeers("n1=127.0.0.1:8080, n2=10.0.0.2:8081/7000,n3=db.local:80");
  assert.deepEqual(members, {
    n1: { peer: "127.0.0.1:9080", url: "http://127.0.0.1:8080" },
    n2: { peer: "10.0.0.2:7000", url: "http://10.0.0.2:8081" },
    n3: { peer: "db.local:1080", url: "http://db.local:80" },
  });
});

Deno.test("parsePeers: bad lists are refused naming the flag and the item", async (t) => {
  const cases: Array<[string, RegExp]> = [
    ["", /lists no node/],
    ["n1", /expected id=host:httpPort/],
    ["n1=host", /expected id=host:httpPort/],
    ["n1=host:0", /port must be 1-65535/],
    ["n1=host:70000", /port must be 1-65535/],
    ["n1=host:80/99999", /port must be 1-65535/],
    ["n1=a:1,n1=b:2", /listed twice/],
    ["bad id=a:1", /bad node id/],
  ];
  for (const [list, message] of cases) {
    await t.step(JSON.stringify(list), () => {
      assert.throws(() => parsePeers(list), (error: unknown) => {
        assert.ok(error instanceof FlagError);
        assert.equal(error.flag, "peers");
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("formatPeers and parsePeers round-trip any loopback layout", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1024, max: 60000 }),
      (n, base) => {
        const members = localMembers(n, base);
        assert.deepEqual(parsePeers(formatPeers(members)), members);
        assert.equal(Object.keys(members).length, n);
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("localMembers refuses impossible layouts", () => {
  assert.throws(() => localMembers(0, 8080), /--nodes/);
  assert.throws(() => localMembers(10, 8080), /--nodes/);
  assert.throws(() => localMembers(3, 65000), /--port/);
});

Deno.test("secrets: generated ones are long enough; short ones are refused", () => {
  const secret = generateSecret();
  assert.ok(secret.length >= MIN_SECRET_LENGTH);
  assert.notEqual(secret, generateSecret());
  assert.equal(validateSecret(secret, "test"), secret);
  assert.throws(() => validateSecret("short", "--secret"), FlagError);
  assert.throws(() => validateSecret(undefined, "SAFLA_CLUSTER_SECRET"), /SAFLA_CLUSTER_SECRET/);
});

Deno.test("claimDataDir: a data dir keeps the cluster shape it was first started with", async () => {
  const dir = await Deno.makeTempDir({ prefix: "claim-" });
  try {
    await claimDataDir(`${dir}/data`, "safla", 3);
    await claimDataDir(`${dir}/data`, "safla", 3);
    await assert.rejects(
      () => claimDataDir(`${dir}/data`, "safla", 5),
      /holds cluster "safla" of 3/,
    );
    await assert.rejects(() => claimDataDir(`${dir}/data`, "other", 3), FlagError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storage flags: the defaults parse to the host's defaults, values and errors name the flag", () => {
  const defaults = Object.fromEntries(
    Object.entries(STORAGE_FLAGS).map(([flag, spec]) => [flag, spec.default]),
  );
  const { maxPendingRequests: _notAFlag, ...storageDefaults } = DEFAULT_HOST_TUNABLES;
  assert.deepEqual(parseStorageFlags(defaults), storageDefaults);
  assert.deepEqual(parseStorageFlags({}), {
    snapshotEveryEntries: undefined,
    walSegmentSizeBytes: undefined,
    autoCompactionRetention: undefined,
    autoCompactionIntervalMs: undefined,
  });
  assert.deepEqual(
    parseStorageFlags({ "auto-compaction-mode": "periodic", "auto-compaction-retention": "60000" }),
    {
      snapshotEveryEntries: undefined,
      walSegmentSizeBytes: undefined,
      autoCompactionMode: "periodic",
      autoCompactionRetention: 60_000,
      autoCompactionIntervalMs: undefined,
    },
  );
  assert.equal(parseStorageFlags({ "auto-compaction-mode": "off" }).autoCompactionMode, "off");
  assert.throws(
    () => parseStorageFlags({ "wal-segment-size-bytes": "1k" }),
    /--wal-segment-size-bytes: expected an integer of at least 4096, got "1k"/,
  );
  assert.throws(() => parseStorageFlags({ "snapshot-every-entries": "0" }), FlagError);
  assert.throws(() => parseStorageFlags({ "auto-compaction-mode": "daily" }), /off, revision/);
  assert.throws(
    () =>
      parseStorageFlags({ "auto-compaction-mode": "revision", "auto-compaction-retention": "0" }),
    /--auto-compaction-retention/,
  );
});
