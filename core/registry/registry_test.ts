import assert from "node:assert/strict";
import fc from "fast-check";
import { type Catalog, catalogHash, type CatalogTool, emptyCatalog } from "./catalog.ts";
import type { HealthStatus } from "./health.ts";
import {
  decodeReplicaRecord,
  encodeReplicaRecord,
  MAX_REPLICAS,
  parseRegistryKey,
  Registry,
  RegistryError,
  type RegistryEvent,
  registryKey,
  registryServicePrefix,
} from "./registry.ts";
import { type ReplicaSpec, ServiceValidationError } from "./service.ts";

function replica(id: string, extra: Partial<ReplicaSpec> = {}): ReplicaSpec {
  return {
    id,
    name: "srv",
    version: "1.0.0",
    transport: { kind: "streamable-http", url: `http://${id}.local/mcp`, headers: {} },
    capabilities: { tools: { listChanged: true } },
    metadata: {},
    ...extra,
  };
}

const tool = (name: string, extra: Partial<CatalogTool> = {}): CatalogTool => ({
  name,
  inputSchema: { type: "object" },
  ...extra,
});

function catalog(tools: string[], extra: Partial<Catalog> = {}): Catalog {
  return { ...emptyCatalog(), tools: tools.map((t) => tool(t)), ...extra };
}

const types = (events: RegistryEvent[]): string[] =>
  events.map((e) =>
    "replicaId" in e ? `${e.type}:${e.serviceId}/${e.replicaId}` : `${e.type}:${e.serviceId}`
  );

Deno.test("Registry lifecycle", async (t) => {
  await t.step("register, list, health and lease expiry produce events", () => {
    const r = new Registry();
    assert.deepEqual(types(r.register("gh", replica("a"), "L1")), ["serviceAdded:gh"]);
    assert.deepEqual(r.register("gh", replica("a"), "L1"), [], "idempotent");
    assert.deepEqual(r.register("gh", replica("b"), "L2"), []);
    const listed = r.setCatalog("gh", "a", catalog(["search", "write"]));
    assert.deepEqual(types(listed), ["catalogChanged:gh"]);
    const changed = listed[0] as Extract<RegistryEvent, { type: "catalogChanged" }>;
    assert.deepEqual(changed.diff.tools.added, ["search", "write"]);
    assert.equal(changed.previousHash, null);
    assert.equal(changed.catalogHash, catalogHash(catalog(["write", "search"])));
    assert.deepEqual(
      r.setCatalog("gh", "a", catalog(["write", "search"])),
      [],
      "same catalog, any order",
    );
    assert.deepEqual(
      r.setCatalog("gh", "b", catalog(["search", "write"])),
      [],
      "identical replica",
    );
    assert.deepEqual(types(r.setHealth("gh", "a", "healthy")), ["replicaUp:gh/a"]);
    assert.deepEqual(r.setHealth("gh", "a", "healthy"), []);
    assert.deepEqual(types(r.setHealth("gh", "b", "healthy")), ["replicaUp:gh/b"]);
    const down = r.setHealth("gh", "b", "disconnected");
    assert.deepEqual(down, [{
      type: "replicaDown",
      serviceId: "gh",
      replicaId: "b",
      status: "disconnected",
    }]);
    assert.deepEqual(r.leases(), ["L1", "L2"]);
    assert.deepEqual(r.expireLease("L2"), []);
    assert.deepEqual(r.leases(), ["L1"]);
    assert.deepEqual(types(r.expireLease("L1")), [
      "replicaDown:gh/a",
      "catalogChanged:gh",
      "serviceRemoved:gh",
    ]);
    assert.deepEqual(r.services(), []);
    assert.deepEqual(r.expireLease("L1"), []);
    assert.deepEqual(r.unregister("gh", "a"), []);
  });

  await t.step("a changed spec is a new backend; a new lease takes over", () => {
    const r = new Registry();
    r.register("gh", replica("a"), "L1");
    r.setCatalog("gh", "a", catalog(["x"]));
    r.setHealth("gh", "a", "healthy");
    assert.deepEqual(r.register("gh", replica("a"), "L2"), []);
    assert.equal(r.record("gh", "a")?.leaseId, "L2");
    assert.equal(r.record("gh", "a")?.health, "healthy");
    assert.deepEqual(r.leases(), ["L2"]);
    const events = r.register("gh", replica("a", { version: "2.0.0" }), "L2");
    assert.deepEqual(types(events), ["replicaDown:gh/a", "catalogChanged:gh"]);
    assert.equal(r.record("gh", "a")?.catalog, null);
    assert.equal(r.record("gh", "a")?.health, "unknown");
  });

  await t.step("rejects unknown replicas and bad input with typed errors", () => {
    const r = new Registry();
    for (
      const f of [
        () => r.setHealth("gh", "a", "healthy"),
        () => r.setCatalog("gh", "a", catalog([])),
      ]
    ) {
      assert.throws(f, (e: unknown) => e instanceof RegistryError && e.code === "unknown-replica");
    }
    assert.throws(() => r.register("bad/id", replica("a"), "L"), ServiceValidationError);
    assert.throws(
      () => r.register("gh", replica("a"), ""),
      (e: unknown) => e instanceof ServiceValidationError && e.field === "leaseId",
    );
    r.register("gh", replica("a"), "L");
    assert.throws(() => r.setHealth("gh", "a", "sick" as HealthStatus), ServiceValidationError);
    assert.throws(() => r.setCatalog("gh", "a", catalog(["x", "x"])), /listed twice/);
  });

  await t.step("refuses registrations beyond MAX_REPLICAS", () => {
    const r = new Registry();
    for (let i = 0; i < MAX_REPLICAS; i++) r.register(`s${i % 100}`, replica(`r${i}`), "L");
    assert.throws(
      () => r.register("s0", replica("one-more"), "L"),
      (e: unknown) => e instanceof RegistryError && e.code === "capacity",
    );
    assert.deepEqual(r.register("s0", replica("r0"), "L"), [], "re-registering still works");
    assert.equal(r.expireLease("L").filter((e) => e.type === "serviceRemoved").length, 100);
  });
  await t.step("returned data is frozen, so callers cannot corrupt the registry", () => {
    const r = new Registry();
    r.register("gh", replica("a"), "L");
    r.setCatalog("gh", "a", catalog(["x"]));
    const info = r.replicas("gh")[0];
    assert.throws(() => {
      (info.capabilities as Record<string, unknown>).evil = true;
    }, TypeError);
    assert.throws(() => {
      r.serviceCatalog("gh")!.tools.push(tool("evil"));
    }, TypeError);
  });
});

Deno.test("Registry queries", async (t) => {
  const r = new Registry();
  r.register("gh", replica("a"), "L1");
  r.register("gh", replica("b"), "L1");
  r.register("gh", replica("c"), "L2");
  r.register("gh", replica("d"), "L2");
  r.register(
    "fs",
    replica("x", { capabilities: { tools: {}, resources: { subscribe: true } } }),
    "L2",
  );
  const ghCatalog = catalog(["search"], {
    resources: [{ uri: "gh://readme", name: "readme" }],
    resourceTemplates: [{ uriTemplate: "gh://{owner}/{repo}", name: "repo" }],
  });
  for (const id of ["a", "b", "c", "d"]) r.setCatalog("gh", id, ghCatalog);
  r.setCatalog(
    "fs",
    "x",
    catalog(["read"], {
      resources: [{ uri: "gh://readme", name: "mirror" }],
      resourceTemplates: [
        { uriTemplate: "gh://octo/{repo}", name: "octo" },
        { uriTemplate: "file:///{+path}", name: "file" },
        { uriTemplate: "broken{", name: "broken" },
      ],
    }),
  );
  r.setHealth("gh", "a", "unhealthy");
  r.setHealth("gh", "b", "healthy");
  r.setHealth("gh", "c", "healthy");
  r.setEjected("gh", "c", true);
  r.setHealth("gh", "d", "disconnected");

  await t.step(
    "replicasForTool puts healthy, not ejected replicas first and leaves out disconnected",
    () => {
      assert.deepEqual(r.replicasForTool("gh", "search").map((x) => x.id), ["b", "c", "a"]);
      assert.deepEqual(r.replicasForTool("gh", "nope"), []);
      assert.deepEqual(r.replicasForTool("nope", "search"), []);
    },
  );

  await t.step("discover filters by capability, tool, status and service", () => {
    const ids = (q: Parameters<Registry["discover"]>[0]) =>
      r.discover(q).map((x) => `${x.serviceId}/${x.id}`);
    assert.deepEqual(ids({}), ["fs/x", "gh/a", "gh/b", "gh/c", "gh/d"]);
    assert.deepEqual(ids({ capability: { resources: {} } }), ["fs/x"]);
    assert.deepEqual(ids({ capability: { tools: { listChanged: true } } }), [
      "gh/a",
      "gh/b",
      "gh/c",
      "gh/d",
    ]);
    assert.deepEqual(ids({ tool: "read" }), ["fs/x"]);
    assert.deepEqual(ids({ status: "healthy" }), ["gh/b", "gh/c"]);
    assert.deepEqual(ids({ status: ["unknown", "unhealthy"] }), ["fs/x", "gh/a"]);
    assert.deepEqual(ids({ serviceId: "gh", tool: "search", status: "disconnected" }), ["gh/d"]);
    const info = r.discover({ serviceId: "fs" })[0];
    assert.deepEqual(info.tools, ["read"]);
    assert.deepEqual(info.resources, ["gh://readme"]);
    assert.equal(info.leaseId, "L2");
  });

  await t.step("resolveResource: exact resources, then templates most specific first", () => {
    assert.deepEqual(r.resolveResource("gh://readme"), [
      { kind: "resource", serviceId: "fs", uri: "gh://readme" },
      { kind: "resource", serviceId: "gh", uri: "gh://readme" },
    ]);
    assert.deepEqual(r.resolveResource("gh://octo/hello"), [
      {
        kind: "template",
        serviceId: "fs",
        uriTemplate: "gh://octo/{repo}",
        variables: { repo: "hello" },
      },
      {
        kind: "template",
        serviceId: "gh",
        uriTemplate: "gh://{owner}/{repo}",
        variables: { owner: "octo", repo: "hello" },
      },
    ]);
    assert.deepEqual(r.resolveResource("file:///etc/hosts"), [
      {
        kind: "template",
        serviceId: "fs",
        uriTemplate: "file:///{+path}",
        variables: { path: "etc/hosts" },
      },
    ]);
    assert.deepEqual(r.resolveResource("ftp://x"), []);
  });

  await t.step(
    "resourceTemplates lists templates per service, like the seed's list_templates",
    () => {
      assert.deepEqual(
        r.resourceTemplates().map((x) => `${x.serviceId} ${x.template.uriTemplate}`),
        [
          "fs broken{",
          "fs file:///{+path}",
          "fs gh://octo/{repo}",
          "gh gh://{owner}/{repo}",
        ],
      );
      assert.deepEqual(r.resourceTemplates("gh").map((x) => x.template.name), ["repo"]);
      assert.deepEqual(r.resourceTemplates("nope"), []);
    },
  );
  await t.step("tool() exposes annotations of the service catalog", () => {
    const r2 = new Registry();
    r2.register("s", replica("a"), "L");
    r2.setCatalog("s", "a", {
      ...emptyCatalog(),
      tools: [tool("w", { annotations: { idempotentHint: true } })],
    });
    assert.equal(r2.tool("s", "w")?.annotations?.idempotentHint, true);
    assert.equal(r2.tool("s", "nope"), undefined);
  });
});

Deno.test("service catalog during a rolling upgrade", () => {
  const r = new Registry();
  for (const id of ["a", "b", "c"]) r.register("s", replica(id), "L");
  r.setCatalog("s", "a", catalog(["v1"]));
  r.setCatalog("s", "b", catalog(["v1"]));
  for (const id of ["a", "b", "c"]) r.setHealth("s", id, "healthy");
  const upgraded = r.setCatalog("s", "c", catalog(["v1", "v2"]));
  assert.deepEqual(upgraded, [], "one new replica does not outvote two old ones");
  assert.deepEqual(r.serviceCatalog("s")?.tools.map((t) => t.name), ["v1"]);
  assert.deepEqual(r.replicasForTool("s", "v2").map((x) => x.id), ["c"]);
  const flipped = r.setCatalog("s", "b", catalog(["v1", "v2"]));
  assert.deepEqual(types(flipped), ["catalogChanged:s"]);
  const diff = (flipped[0] as Extract<RegistryEvent, { type: "catalogChanged" }>).diff;
  assert.deepEqual(diff.tools.added, ["v2"]);
  assert.deepEqual(diff.listChanged, { tools: true, resources: false, prompts: false });
  r.setHealth("s", "b", "unhealthy");
  r.setHealth("s", "c", "unhealthy");
  assert.deepEqual(
    r.serviceCatalog("s")?.tools.map((t) => t.name),
    ["v1"],
    "healthy replicas outvote",
  );
});

Deno.test("registry keys", () => {
  assert.equal(registryKey("gh", "10.0.0.1:80"), "/registry/services/gh/replicas/10.0.0.1:80");
  assert.ok(registryKey("gh", "a").startsWith(registryServicePrefix("gh")));
  assert.deepEqual(parseRegistryKey(registryKey("gh", "a")), { serviceId: "gh", replicaId: "a" });
  for (
    const bad of [
      "/registry/services/gh/replicas/",
      "/registry/services/gh/replicas/a/b",
      "/other/x",
      "/registry/services/-x/replicas/a",
    ]
  ) {
    assert.equal(parseRegistryKey(bad), null, bad);
  }
  assert.throws(() => registryKey("gh", "a/b"), ServiceValidationError);
});

Deno.test("serialization", async (t) => {
  await t.step("toJSON and fromJSON round-trip through JSON text", () => {
    const r = new Registry();
    r.register("gh", replica("a"), "L1");
    r.setCatalog("gh", "a", catalog(["x"]));
    r.setHealth("gh", "a", "healthy");
    r.setEjected("gh", "a", true);
    const copy = Registry.fromJSON(JSON.parse(JSON.stringify(r)));
    assert.deepEqual(copy.toJSON(), r.toJSON());
    assert.deepEqual(copy.replicasForTool("gh", "x").map((x) => x.ejected), [true]);
  });
  await t.step("records move through the KV store one key at a time", () => {
    const source = new Registry();
    source.register("gh", replica("a"), "L1");
    source.setCatalog("gh", "a", catalog(["x"]));
    const sink = new Registry();
    const record = JSON.parse(JSON.stringify(source.record("gh", "a")));
    assert.deepEqual(types(sink.upsertRecord(record)), ["serviceAdded:gh", "catalogChanged:gh"]);
    assert.deepEqual(sink.upsertRecord(record), []);
    assert.deepEqual(sink.toJSON(), source.toJSON());
  });
  await t.step("applyKvChange follows puts and deletes of encoded records", () => {
    const source = new Registry();
    source.register("gh", replica("a"), "7");
    source.setCatalog("gh", "a", catalog(["x"]));
    source.setHealth("gh", "a", "healthy");
    const sink = new Registry();
    const key = registryKey("gh", "a");
    const value = encodeReplicaRecord(source.record("gh", "a")!);
    assert.deepEqual(types(sink.applyKvChange(key, value)), [
      "serviceAdded:gh",
      "replicaUp:gh/a",
      "catalogChanged:gh",
    ]);
    assert.deepEqual(sink.applyKvChange(key, value), []);
    assert.deepEqual(sink.applyKvChange("/sessions/x", "{}"), []);
    assert.throws(
      () => sink.applyKvChange(registryKey("gh", "b"), value),
      (e: unknown) => e instanceof RegistryError && e.code === "invalid-record",
    );
    assert.throws(() => sink.applyKvChange(key, "{not json"), RegistryError);
    assert.deepEqual(types(sink.applyKvChange(key, null)), [
      "replicaDown:gh/a",
      "catalogChanged:gh",
      "serviceRemoved:gh",
    ]);
    assert.equal(decodeReplicaRecord(value).catalogHash, source.record("gh", "a")!.catalogHash);
  });
  await t.step("rejects tampered snapshots and records", () => {
    const r = new Registry();
    r.register("gh", replica("a"), "L1");
    r.setCatalog("gh", "a", catalog(["x"]));
    const snap = JSON.parse(JSON.stringify(r));
    const bad = [
      { ...snap, version: 2 },
      { ...snap, revision: -1 },
      { ...snap, records: [snap.records[0], snap.records[0]] },
      { ...snap, revision: 0 },
    ];
    for (const s of bad) {
      assert.throws(
        () => Registry.fromJSON(s),
        (e: unknown) => e instanceof RegistryError && e.code === "invalid-snapshot",
      );
    }
    const tampered = structuredClone(snap.records[0]);
    tampered.catalog.tools[0].description = "changed without rehash";
    assert.throws(
      () => new Registry().upsertRecord(tampered),
      (e: unknown) => e instanceof RegistryError && e.code === "invalid-record",
    );
    assert.throws(
      () => new Registry().upsertRecord({ ...snap.records[0], health: "meh" }),
      /bad health/,
    );
  });
});

// ---------------------------------------------------------------- properties

type Op =
  | { op: "register"; s: string; r: string; lease: string; version: string }
  | { op: "unregister"; s: string; r: string }
  | { op: "expire"; lease: string }
  | { op: "catalog"; s: string; r: string; tools: string[] }
  | { op: "health"; s: string; r: string; status: HealthStatus }
  | { op: "eject"; s: string; r: string; ejected: boolean };

const sid = fc.constantFrom("s1", "s2");
const rid = fc.constantFrom("a", "b", "c");
const lease = fc.constantFrom("L1", "L2");
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("register" as const),
    s: sid,
    r: rid,
    lease,
    version: fc.constantFrom("1", "2"),
  }),
  fc.record({ op: fc.constant("unregister" as const), s: sid, r: rid }),
  fc.record({ op: fc.constant("expire" as const), lease }),
  fc.record({
    op: fc.constant("catalog" as const),
    s: sid,
    r: rid,
    tools: fc.subarray(["t1", "t2", "t3"]),
  }),
  fc.record({
    op: fc.constant("health" as const),
    s: sid,
    r: rid,
    status: fc.constantFrom<HealthStatus>("unknown", "healthy", "unhealthy", "disconnected"),
  }),
  fc.record({ op: fc.constant("eject" as const), s: sid, r: rid, ejected: fc.boolean() }),
);

function apply(r: Registry, op: Op): RegistryEvent[] {
  switch (op.op) {
    case "register":
      return r.register(op.s, replica(op.r, { version: op.version }), op.lease);
    case "unregister":
      return r.unregister(op.s, op.r);
    case "expire":
      return r.expireLease(op.lease);
    default:
      if (!r.has(op.s, op.r)) return [];
      if (op.op === "catalog") return r.setCatalog(op.s, op.r, catalog(op.tools));
      if (op.op === "health") return r.setHealth(op.s, op.r, op.status);
      return r.setEjected(op.s, op.r, op.ejected);
  }
}

interface Observation {
  services: Set<string>;
  up: Set<string>;
  status: Map<string, HealthStatus>;
  hashes: Map<string, string | null>;
}

function observe(r: Registry): Observation {
  const o: Observation = {
    services: new Set(r.services()),
    up: new Set(),
    status: new Map(),
    hashes: new Map(),
  };
  for (const s of o.services) {
    o.hashes.set(s, r.serviceCatalogHash(s));
    for (const x of r.replicas(s)) {
      o.status.set(`${s}/${x.id}`, x.status);
      if (x.status === "healthy") o.up.add(`${s}/${x.id}`);
    }
  }
  return o;
}

// The events a change should produce, computed from two snapshots alone.
function expectedEvents(before: Observation, after: Observation): string[] {
  const out: string[] = [];
  for (const s of [...new Set([...before.services, ...after.services])].sort()) {
    if (!before.services.has(s)) out.push(`serviceAdded:${s}`);
    for (const k of [...after.up].sort()) {
      if (k.startsWith(`${s}/`) && !before.up.has(k)) out.push(`replicaUp:${k}`);
    }
    for (const k of [...before.up].sort()) {
      if (k.startsWith(`${s}/`) && !after.up.has(k)) {
        out.push(`replicaDown:${k}:${after.status.get(k) ?? "removed"}`);
      }
    }
    if ((before.hashes.get(s) ?? null) !== (after.hashes.get(s) ?? null)) {
      out.push(`catalogChanged:${s}`);
    }
    if (!after.services.has(s)) out.push(`serviceRemoved:${s}`);
  }
  return out;
}

const describe = (events: RegistryEvent[]): string[] =>
  events.map((e) =>
    e.type === "replicaDown" ? `${e.type}:${e.serviceId}/${e.replicaId}:${e.status}` : types([e])[0]
  );

Deno.test("registry properties", async (t) => {
  await t.step("events equal the difference between the snapshots before and after", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const r = new Registry();
        for (const op of ops) {
          const before = observe(r);
          const events = apply(r, op);
          const after = observe(r);
          assert.deepEqual(
            describe(events).sort(),
            expectedEvents(before, after).sort(),
            JSON.stringify(op),
          );
          for (const e of events) {
            if (e.type === "catalogChanged") {
              assert.equal(e.previousHash, before.hashes.get(e.serviceId) ?? null);
              assert.equal(e.catalogHash, after.hashes.get(e.serviceId) ?? null);
            }
          }
        }
      }),
      { numRuns: 150 },
    );
  });
  await t.step("every operation is idempotent", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), opArb, (ops, last) => {
        const r = new Registry();
        for (const op of ops) apply(r, op);
        apply(r, last);
        const snapshot = JSON.stringify(r);
        assert.deepEqual(apply(r, last), []);
        assert.equal(JSON.stringify(r), snapshot);
      }),
      { numRuns: 150 },
    );
  });
  await t.step("snapshots round-trip and the lease index matches the records", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const r = new Registry();
        for (const op of ops) apply(r, op);
        const json = r.toJSON();
        const copy = Registry.fromJSON(JSON.parse(JSON.stringify(json)));
        assert.deepEqual(copy.toJSON(), json);
        assert.deepEqual(observe(copy), observe(r));
        assert.deepEqual(r.leases(), [...new Set(json.records.map((x) => x.leaseId))].sort());
        for (const l of r.leases()) r.expireLease(l);
        assert.deepEqual(r.services(), []);
      }),
      { numRuns: 150 },
    );
  });
});
