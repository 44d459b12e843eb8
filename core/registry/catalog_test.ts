import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type Catalog,
  CatalogError,
  catalogHash,
  type CatalogTool,
  diffCatalogs,
  emptyCatalog,
  isCatalogDiffEmpty,
  normalizeCatalog,
} from "./catalog.ts";
import type { JsonObject } from "./content_hash.ts";

const tool = (name: string, extra: Partial<CatalogTool> = {}): CatalogTool => ({
  name,
  inputSchema: { type: "object" },
  ...extra,
});

const sample: Catalog = {
  tools: [
    tool("search", { annotations: { readOnlyHint: true }, description: "find things" }),
    tool("write", { annotations: { destructiveHint: true } }),
  ],
  resources: [{ uri: "file:///readme", name: "readme", mimeType: "text/plain" }],
  resourceTemplates: [{ uriTemplate: "file:///{path}", name: "file" }],
  prompts: [{ name: "summarise", arguments: [{ name: "text", required: true }] }],
};

Deno.test("normalizeCatalog", async (t) => {
  await t.step("sorts every list by its key", () => {
    const c = normalizeCatalog({
      ...emptyCatalog(),
      tools: [tool("b"), tool("a"), tool("C")],
      resources: [{ uri: "z:1", name: "z" }, { uri: "a:1", name: "a" }],
    });
    assert.deepEqual(c.tools.map((x) => x.name), ["C", "a", "b"]);
    assert.deepEqual(c.resources.map((x) => x.uri), ["a:1", "z:1"]);
  });
  await t.step("rejects duplicates, missing keys, missing lists and bad schemas", () => {
    const cases: Array<[unknown, string, string | undefined]> = [
      [{ ...emptyCatalog(), tools: [tool("a"), tool("a")] }, "tools", "a"],
      [{ ...emptyCatalog(), prompts: [{ description: "no name" }] }, "prompts", undefined],
      [{ ...emptyCatalog(), resources: [{ uri: "", name: "x" }] }, "resources", undefined],
      [{ tools: [], resources: [], prompts: [] }, "resourceTemplates", undefined],
      [{ ...emptyCatalog(), tools: [{ name: "t" }] }, "tools", "t"],
      [{ ...emptyCatalog(), tools: [{ name: "t", inputSchema: [] }] }, "tools", "t"],
    ];
    for (const [input, kind, key] of cases) {
      assert.throws(() => normalizeCatalog(input as Catalog), (e: unknown) => {
        assert.ok(e instanceof CatalogError, String(e));
        assert.equal(e.kind, kind);
        assert.equal(e.key, key);
        return true;
      });
    }
  });
  await t.step("drops annotation hints that are not booleans", () => {
    const c = normalizeCatalog({
      ...emptyCatalog(),
      tools: [
        {
          name: "a",
          inputSchema: {},
          annotations: { readOnlyHint: "false", idempotentHint: true, title: 3 },
        },
        { name: "b", inputSchema: {}, annotations: "yes" },
      ],
    } as unknown as Catalog);
    assert.deepEqual(c.tools[0].annotations, { idempotentHint: true });
    assert.equal(c.tools[1].annotations, undefined);
  });
  await t.step("does not share references with its input", () => {
    const input = structuredClone(sample);
    const c = normalizeCatalog(input);
    input.tools[0].inputSchema.type = "changed";
    assert.equal(c.tools[0].inputSchema.type, "object");
  });
});

Deno.test("catalogHash", async (t) => {
  await t.step("is 16 hex digits and differs for a changed description or annotation", () => {
    const h = catalogHash(sample);
    assert.match(h, /^[0-9a-f]{16}$/);
    const described = structuredClone(sample);
    described.tools[0].description = "find other things";
    const annotated = structuredClone(sample);
    annotated.tools[1].annotations = { destructiveHint: false };
    const hashes = new Set([h, catalogHash(described), catalogHash(annotated)]);
    assert.equal(hashes.size, 3);
    assert.notEqual(catalogHash(emptyCatalog()), h);
  });
  await t.step("moving an entry to another list changes the hash", () => {
    const asTool = { ...emptyCatalog(), tools: [tool("x")] };
    const asPrompt = { ...emptyCatalog(), prompts: [{ name: "x" }] };
    assert.notEqual(catalogHash(asTool), catalogHash(asPrompt));
  });
  await t.step("is order-insensitive for the set-like lists and stable across JSON", () => {
    fc.assert(
      fc.property(
        arbitraryCatalog(),
        fc.infiniteStream(fc.nat()),
        (catalog, seeds) => {
          const shuffled: Catalog = {
            tools: shuffle(catalog.tools, seeds),
            resources: shuffle(catalog.resources, seeds),
            resourceTemplates: shuffle(catalog.resourceTemplates, seeds),
            prompts: shuffle(catalog.prompts, seeds),
          };
          const h = catalogHash(catalog);
          assert.equal(catalogHash(shuffled), h);
          assert.equal(catalogHash(JSON.parse(JSON.stringify(shuffled))), h);
          assert.equal(catalogHash(normalizeCatalog(catalog)), h);
        },
      ),
      { numRuns: 100 },
    );
  });
});

Deno.test("diffCatalogs", async (t) => {
  await t.step("reports added, removed and changed keys per list", () => {
    const after = structuredClone(sample);
    after.tools = [tool("search", { description: "new text" }), tool("delete")];
    after.resourceTemplates = [];
    const d = diffCatalogs(sample, after);
    assert.deepEqual(d.tools, { added: ["delete"], removed: ["write"], changed: ["search"] });
    assert.deepEqual(d.resourceTemplates, { added: [], removed: ["file:///{path}"], changed: [] });
    assert.deepEqual(d.resources, { added: [], removed: [], changed: [] });
    assert.deepEqual(d.listChanged, { tools: true, resources: true, prompts: false });
  });
  await t.step("null is an empty catalog", () => {
    const d = diffCatalogs(null, sample);
    assert.deepEqual(d.prompts.added, ["summarise"]);
    assert.deepEqual(diffCatalogs(sample, null).tools.removed, ["search", "write"]);
    assert.ok(isCatalogDiffEmpty(diffCatalogs(null, emptyCatalog())));
  });
  await t.step("is empty exactly when the hashes agree", () => {
    fc.assert(
      fc.property(arbitraryCatalog(), arbitraryCatalog(), (a, b) => {
        assert.equal(isCatalogDiffEmpty(diffCatalogs(a, b)), catalogHash(a) === catalogHash(b));
        assert.ok(isCatalogDiffEmpty(diffCatalogs(a, structuredClone(a))));
      }),
      { numRuns: 100 },
    );
  });
  await t.step("added and removed swap when the arguments swap", () => {
    fc.assert(
      fc.property(arbitraryCatalog(), arbitraryCatalog(), (a, b) => {
        const forward = diffCatalogs(a, b);
        const backward = diffCatalogs(b, a);
        for (const kind of ["tools", "resources", "resourceTemplates", "prompts"] as const) {
          assert.deepEqual(forward[kind].added, backward[kind].removed);
          assert.deepEqual(forward[kind].changed, backward[kind].changed);
        }
      }),
      { numRuns: 100 },
    );
  });
});

function shuffle<T>(items: T[], seeds: Iterable<number>): T[] {
  const out = [...items];
  const it = seeds[Symbol.iterator]();
  for (let i = out.length - 1; i > 0; i--) {
    const j = it.next().value % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function arbitraryCatalog(): fc.Arbitrary<Catalog> {
  const name = fc.constantFrom("a", "b", "c", "d", "search", "日本");
  const text = fc.option(fc.constantFrom("one", "two"), { nil: undefined });
  const tools = fc.uniqueArray(
    fc.record({
      name,
      description: text,
      inputSchema: fc.constantFrom<JsonObject>({ type: "object" }, {
        type: "object",
        properties: { q: {} },
      }),
      annotations: fc.option(fc.record({ readOnlyHint: fc.boolean() }), { nil: undefined }),
    }),
    { selector: (x) => x.name, maxLength: 5 },
  );
  const resources = fc.uniqueArray(
    fc.record({ uri: name.map((n) => `mem:${n}`), name, mimeType: text }),
    { selector: (x) => x.uri, maxLength: 4 },
  );
  const resourceTemplates = fc.uniqueArray(
    fc.record({ uriTemplate: name.map((n) => `mem:${n}/{id}`), name }),
    { selector: (x) => x.uriTemplate, maxLength: 3 },
  );
  const prompts = fc.uniqueArray(fc.record({ name, description: text }), {
    selector: (x) => x.name,
    maxLength: 3,
  });
  return fc.record({ tools, resources, resourceTemplates, prompts });
}
