import assert from "node:assert/strict";
import fc from "fast-check";
import {
  expandUriTemplate,
  type MatchedValue,
  matchUriTemplate,
  MAX_EXPRESSIONS,
  MAX_MATCH_URI_LENGTH,
  UriTemplate,
  UriTemplateError,
  type UriTemplateVariables,
} from "./uri_template.ts";

// RFC 6570 section 3.2.
const RFC_VARIABLES: UriTemplateVariables = {
  count: ["one", "two", "three"],
  dom: ["example", "com"],
  dub: "me/too",
  hello: "Hello World!",
  half: "50%",
  var: "value",
  who: "fred",
  base: "http://example.com/home/",
  path: "/foo/bar",
  list: ["red", "green", "blue"],
  keys: { semi: ";", dot: ".", comma: "," },
  v: "6",
  x: "1024",
  y: "768",
  empty: "",
  empty_keys: {},
  undef: null,
};

// RFC 6570 sections 3.2.1 to 3.2.9, every example, grouped by operator.
const RFC_EXAMPLES: Record<string, Array<[string, string]>> = {
  "3.2.1 variable expansion": [
    ["{count}", "one,two,three"],
    ["{count*}", "one,two,three"],
    ["{/count}", "/one,two,three"],
    ["{/count*}", "/one/two/three"],
    ["{;count}", ";count=one,two,three"],
    ["{;count*}", ";count=one;count=two;count=three"],
    ["{?count}", "?count=one,two,three"],
    ["{?count*}", "?count=one&count=two&count=three"],
    ["{&count*}", "&count=one&count=two&count=three"],
  ],
  "3.2.2 simple string expansion": [
    ["{var}", "value"],
    ["{hello}", "Hello%20World%21"],
    ["{half}", "50%25"],
    ["O{empty}X", "OX"],
    ["O{undef}X", "OX"],
    ["{x,y}", "1024,768"],
    ["{x,hello,y}", "1024,Hello%20World%21,768"],
    ["?{x,empty}", "?1024,"],
    ["?{x,undef}", "?1024"],
    ["?{undef,y}", "?768"],
    ["{var:3}", "val"],
    ["{var:30}", "value"],
    ["{list}", "red,green,blue"],
    ["{list*}", "red,green,blue"],
    ["{keys}", "semi,%3B,dot,.,comma,%2C"],
    ["{keys*}", "semi=%3B,dot=.,comma=%2C"],
  ],
  "3.2.3 reserved expansion (+)": [
    ["{+var}", "value"],
    ["{+hello}", "Hello%20World!"],
    ["{+half}", "50%25"],
    ["{base}index", "http%3A%2F%2Fexample.com%2Fhome%2Findex"],
    ["{+base}index", "http://example.com/home/index"],
    ["O{+empty}X", "OX"],
    ["O{+undef}X", "OX"],
    ["{+path}/here", "/foo/bar/here"],
    ["here?ref={+path}", "here?ref=/foo/bar"],
    ["up{+path}{var}/here", "up/foo/barvalue/here"],
    ["{+x,hello,y}", "1024,Hello%20World!,768"],
    ["{+path,x}/here", "/foo/bar,1024/here"],
    ["{+path:6}/here", "/foo/b/here"],
    ["{+list}", "red,green,blue"],
    ["{+list*}", "red,green,blue"],
    ["{+keys}", "semi,;,dot,.,comma,,"],
    ["{+keys*}", "semi=;,dot=.,comma=,"],
  ],
  "3.2.4 fragment expansion (#)": [
    ["{#var}", "#value"],
    ["{#hello}", "#Hello%20World!"],
    ["{#half}", "#50%25"],
    ["foo{#empty}", "foo#"],
    ["foo{#undef}", "foo"],
    ["{#x,hello,y}", "#1024,Hello%20World!,768"],
    ["{#path,x}/here", "#/foo/bar,1024/here"],
    ["{#path:6}/here", "#/foo/b/here"],
    ["{#list}", "#red,green,blue"],
    ["{#list*}", "#red,green,blue"],
    ["{#keys}", "#semi,;,dot,.,comma,,"],
    ["{#keys*}", "#semi=;,dot=.,comma=,"],
  ],
  "3.2.5 label expansion (.)": [
    ["{.who}", ".fred"],
    ["{.who,who}", ".fred.fred"],
    ["{.half,who}", ".50%25.fred"],
    ["www{.dom*}", "www.example.com"],
    ["X{.var}", "X.value"],
    ["X{.empty}", "X."],
    ["X{.undef}", "X"],
    ["X{.var:3}", "X.val"],
    ["X{.list}", "X.red,green,blue"],
    ["X{.list*}", "X.red.green.blue"],
    ["X{.keys}", "X.semi,%3B,dot,.,comma,%2C"],
    ["X{.keys*}", "X.semi=%3B.dot=..comma=%2C"],
    ["X{.empty_keys}", "X"],
    ["X{.empty_keys*}", "X"],
  ],
  "3.2.6 path segment expansion (/)": [
    ["{/who}", "/fred"],
    ["{/who,who}", "/fred/fred"],
    ["{/half,who}", "/50%25/fred"],
    ["{/who,dub}", "/fred/me%2Ftoo"],
    ["{/var}", "/value"],
    ["{/var,empty}", "/value/"],
    ["{/var,undef}", "/value"],
    ["{/var,x}/here", "/value/1024/here"],
    ["{/var:1,var}", "/v/value"],
    ["{/list}", "/red,green,blue"],
    ["{/list*}", "/red/green/blue"],
    ["{/list*,path:4}", "/red/green/blue/%2Ffoo"],
    ["{/keys}", "/semi,%3B,dot,.,comma,%2C"],
    ["{/keys*}", "/semi=%3B/dot=./comma=%2C"],
  ],
  "3.2.7 path-style parameter expansion (;)": [
    ["{;who}", ";who=fred"],
    ["{;half}", ";half=50%25"],
    ["{;empty}", ";empty"],
    ["{;v,empty,who}", ";v=6;empty;who=fred"],
    ["{;v,bar,who}", ";v=6;who=fred"],
    ["{;x,y}", ";x=1024;y=768"],
    ["{;x,y,empty}", ";x=1024;y=768;empty"],
    ["{;x,y,undef}", ";x=1024;y=768"],
    ["{;hello:5}", ";hello=Hello"],
    ["{;list}", ";list=red,green,blue"],
    ["{;list*}", ";list=red;list=green;list=blue"],
    ["{;keys}", ";keys=semi,%3B,dot,.,comma,%2C"],
    ["{;keys*}", ";semi=%3B;dot=.;comma=%2C"],
  ],
  "3.2.8 form-style query expansion (?)": [
    ["{?who}", "?who=fred"],
    ["{?half}", "?half=50%25"],
    ["{?x,y}", "?x=1024&y=768"],
    ["{?x,y,empty}", "?x=1024&y=768&empty="],
    ["{?x,y,undef}", "?x=1024&y=768"],
    ["{?var:3}", "?var=val"],
    ["{?list}", "?list=red,green,blue"],
    ["{?list*}", "?list=red&list=green&list=blue"],
    ["{?keys}", "?keys=semi,%3B,dot,.,comma,%2C"],
    ["{?keys*}", "?semi=%3B&dot=.&comma=%2C"],
  ],
  "3.2.9 form-style query continuation (&)": [
    ["{&who}", "&who=fred"],
    ["{&half}", "&half=50%25"],
    ["?fixed=yes{&x}", "?fixed=yes&x=1024"],
    ["{&x,y,empty}", "&x=1024&y=768&empty="],
    ["{&var:3}", "&var=val"],
    ["{&list}", "&list=red,green,blue"],
    ["{&list*}", "&list=red&list=green&list=blue"],
    ["{&keys}", "&keys=semi,%3B,dot,.,comma,%2C"],
    ["{&keys*}", "&semi=%3B&dot=.&comma=%2C"],
  ],
};

Deno.test("expand: RFC 6570 examples", async (t) => {
  for (const [section, examples] of Object.entries(RFC_EXAMPLES)) {
    await t.step(section, () => {
      for (const [template, expected] of examples) {
        assert.equal(expandUriTemplate(template, RFC_VARIABLES), expected, template);
      }
    });
  }
  await t.step("every RFC example expansion matches its own template", () => {
    for (const examples of Object.values(RFC_EXAMPLES)) {
      for (const [template, expected] of examples) {
        assert.notEqual(matchUriTemplate(template, expected), null, `${template} ~ ${expected}`);
      }
    }
  });
  await t.step("literals outside the URI character set are percent-encoded", () => {
    assert.equal(expandUriTemplate("mem:é/{x}", { x: "é" }), "mem:%C3%A9/%C3%A9");
    assert.equal(expandUriTemplate("a%20b{+x}", { x: "%41%zz" }), "a%20b%41%25zz");
  });
  await t.step("prefix counts characters, not bytes or code units", () => {
    assert.equal(expandUriTemplate("{x:2}", { x: "日本語" }), "%E6%97%A5%E6%9C%AC");
    assert.equal(expandUriTemplate("{x:1}", { x: "😀a" }), "%F0%9F%98%80");
    assert.equal(expandUriTemplate("{+x:2}", { x: "%41bc" }), "%41b");
  });
  await t.step("prefix on a list or map is an error naming the variable", () => {
    assert.throws(() => expandUriTemplate("a{/list:3}", RFC_VARIABLES), (e: unknown) => {
      assert.ok(e instanceof UriTemplateError);
      assert.equal(e.position, 1);
      assert.match(e.message, /"list"/);
      return true;
    });
  });
});

const RFC_MATCHES: Array<[string, string, Record<string, MatchedValue> | null]> = [
  ["{var}", "value", { var: "value" }],
  ["{hello}", "Hello%20World%21", { hello: "Hello World!" }],
  ["{half}", "50%25", { half: "50%" }],
  ["O{undef}X", "OX", {}],
  ["{x,y}", "1024,768", { x: "1024", y: "768" }],
  ["{x,hello,y}", "1024,Hello%20World%21,768", { x: "1024", hello: "Hello World!", y: "768" }],
  ["?{x,empty}", "?1024,", { x: "1024", empty: "" }],
  ["?{x,undef}", "?1024", { x: "1024" }],
  ["{var:3}", "val", { var: "val" }],
  ["{var:3}", "valu", null],
  ["{list}", "red,green,blue", { list: ["red", "green", "blue"] }],
  ["{keys*}", "semi=%3B,dot=.,comma=%2C", { keys: { semi: ";", dot: ".", comma: "," } }],
  ["{+hello}", "Hello%20World!", { hello: "Hello World!" }],
  ["{+base}index", "http://example.com/home/index", { base: "http://example.com/home/" }],
  ["{+path}/here", "/foo/bar/here", { path: "/foo/bar" }],
  ["here?ref={+path}", "here?ref=/foo/bar", { path: "/foo/bar" }],
  ["{#path,x}/here", "#/foo/bar,1024/here", { path: "/foo/bar", x: "1024" }],
  ["foo{#undef}", "foo", {}],
  ["{.who}", ".fred", { who: "fred" }],
  ["www{.dom*}", "www.example.com", { dom: ["example", "com"] }],
  ["X{.undef}", "X", {}],
  ["{/who,dub}", "/fred/me%2Ftoo", { who: "fred", dub: "me/too" }],
  ["{/var,x}/here", "/value/1024/here", { var: "value", x: "1024" }],
  ["{/var:1,var}", "/v/value", { var: "value" }],
  ["{/var:1,var}", "/w/value", null],
  ["{/var,var:2}", "/value/va", { var: "value" }],
  ["{/list*}", "/red/green/blue", { list: ["red", "green", "blue"] }],
  ["{/keys*}", "/semi=%3B/dot=./comma=%2C", { keys: { semi: ";", dot: ".", comma: "," } }],
  ["{;v,empty,who}", ";v=6;empty;who=fred", { v: "6", empty: "", who: "fred" }],
  ["{;v,bar,who}", ";v=6;who=fred", { v: "6", who: "fred" }],
  ["{;list*}", ";list=red;list=green;list=blue", { list: ["red", "green", "blue"] }],
  ["{;keys*}", ";semi=%3B;dot=.;comma=%2C", { keys: { semi: ";", dot: ".", comma: "," } }],
  ["{?x,y,empty}", "?x=1024&y=768&empty=", { x: "1024", y: "768", empty: "" }],
  ["{?x,y}", "?y=768", { y: "768" }],
  ["{?x,y}", "?z=1", null],
  ["{?list*}", "?list=red&list=green&list=blue", { list: ["red", "green", "blue"] }],
  ["{?keys*}", "?semi=%3B&dot=.&comma=%2C", { keys: { semi: ";", dot: ".", comma: "," } }],
  ["?fixed=yes{&x}", "?fixed=yes&x=1024", { x: "1024" }],
  ["?fixed=yes{&x}", "?fixed=no&x=1024", null],
];

Deno.test("match", async (t) => {
  await t.step("RFC 6570 examples read back", () => {
    for (const [template, uri, expected] of RFC_MATCHES) {
      assert.deepEqual(matchUriTemplate(template, uri), expected, `${template} ~ ${uri}`);
    }
  });
  await t.step("resource URIs a gateway routes", () => {
    const table: Array<[string, string, Record<string, MatchedValue> | null]> = [
      ["file:///{path}", "file:///README.md", { path: "README.md" }],
      ["file:///{path}", "file:///docs/README.md", null],
      ["file:///{+path}", "file:///docs/README.md", { path: "docs/README.md" }],
      ["file:///{+path}", "http:///docs", null],
      ["db://{table}/rows/{id}{?fields*}", "db://users/rows/7?fields=a&fields=b", {
        table: "users",
        id: "7",
        fields: ["a", "b"],
      }],
      ["db://{table}/rows/{id}{?fields*}", "db://users/rows/7", { table: "users", id: "7" }],
      ["{name}.json", "file.v2.json", { name: "file.v2" }],
      ["{x}/{x}", "a/a", { x: "a" }],
      ["{x}/{x}", "a/b", null],
      ["{x}", "%FF", null],
      ["{x}", "%zz", null],
      ["mem:é/{x}", "mem:%C3%A9/%C3%A9", { x: "é" }],
      // An unnamed expression that expands to nothing reads as "no variable defined".
      ["users/{id}", "users/", {}],
      ["users/{id}", "users", null],
    ];
    for (const [template, uri, expected] of table) {
      assert.deepEqual(matchUriTemplate(template, uri), expected, `${template} ~ ${uri}`);
    }
  });
  await t.step("prefers defining more variables, each as short as possible", () => {
    assert.deepEqual(matchUriTemplate("{/a,b}/{+c}", "/x/y/z"), { a: "x", b: "y", c: "z" });
    assert.deepEqual(matchUriTemplate("{+a}/{+b}", "x/y/z"), { a: "x", b: "y/z" });
    // Adjacent expressions are ambiguous; the earlier one takes the shortest value that works.
    assert.deepEqual(matchUriTemplate("up{+path}{var}/here", "up/foo/barvalue/here"), {
      path: "/foo/",
      var: "barvalue",
    });
  });
  await t.step("hostile URIs against ambiguous templates finish within the work bound", () => {
    const hostile: Array<[string, string]> = [
      ["{a}{b}{c}{d}", "a".repeat(8000) + "!"],
      ["{a}x{b}x{c}x{d}x", "x".repeat(8000) + "!x"],
      ["{a,b}{c,d}", "a,".repeat(4000) + "!"],
      ["{+a}/{+b}/{+c}/", "/".repeat(8000) + "%/"],
      ["{;a,b}{?c,d}", ";a=" + "x".repeat(8000) + "!"],
    ];
    for (const [template, uri] of hostile) {
      const startMs = performance.now();
      assert.equal(matchUriTemplate(template, uri), null);
      const elapsedMs = performance.now() - startMs;
      assert.ok(elapsedMs < 2_000, `${template} took ${elapsedMs} ms`);
    }
    assert.equal(matchUriTemplate("{x}", "a".repeat(MAX_MATCH_URI_LENGTH + 1)), null);
    // Lone variables next to each other are searched in linear time, so long URIs still match.
    assert.deepEqual(matchUriTemplate("{a}{b}", "a".repeat(MAX_MATCH_URI_LENGTH)), {
      b: "a".repeat(MAX_MATCH_URI_LENGTH),
    });
    const path = "a/".repeat(4000);
    assert.deepEqual(matchUriTemplate("file:///{+path}{?ref}", `file:///${path}?ref=main`), {
      path,
      ref: "main",
    });
  });
  await t.step("literal length ranks specificity", () => {
    assert.ok(
      UriTemplate.parse("db://users/{id}").literalLength >
        UriTemplate.parse("db://{t}/{id}").literalLength,
    );
  });
});

Deno.test("parse", async (t) => {
  await t.step("reports malformed templates with the offending offset", () => {
    const table: Array<[string, number, RegExp]> = [
      ["{", 0, /never closed/],
      ["a}", 1, /without a matching/],
      ["a{}", 1, /empty expression/],
      ["{=x}", 1, /reserved for future/],
      ["{|x}", 1, /reserved for future/],
      ["{x", 0, /never closed/],
      ["a{b{c}}", 3, /inside an expression/],
      ["{x:0}", 3, /prefix length/],
      ["{x:10000}", 3, /prefix length/],
      ["{x:01}", 3, /prefix length/],
      ["{x:}", 3, /prefix length/],
      ["{.}", 2, /variable name/],
      ["{x.}", 2, /unexpected/],
      ["{x..y}", 2, /unexpected/],
      ["{x.-}", 2, /unexpected/],
      ["{x,}", 3, /variable name/],
      ["{,x}", 1, /reserved for future/],
      ["{x*:3}", 3, /unexpected/],
      ["{x y}", 2, /unexpected/],
      ["a b", 1, /not allowed/],
      ["a%zz", 1, /two hex digits/],
      ["<{x}>", 0, /not allowed/],
      ["{x}".repeat(MAX_EXPRESSIONS + 1), 3 * MAX_EXPRESSIONS, /expressions/],
    ];
    for (const [template, position, reason] of table) {
      assert.throws(() => UriTemplate.parse(template), (e: unknown) => {
        assert.ok(e instanceof UriTemplateError, `${template}: ${e}`);
        assert.equal(e.position, position, `${template}: ${e.message}`);
        assert.match(e.message, reason, template);
        return true;
      });
    }
  });
  await t.step("parses varspecs with modifiers and dotted, encoded names", () => {
    const t1 = UriTemplate.parse("x{/a.b,c%20d:12,e*}y{?a.b}");
    assert.deepEqual(t1.variableNames, ["a.b", "c%20d", "e"]);
    assert.deepEqual(t1.parts[1], {
      kind: "expression",
      position: 1,
      operator: "/",
      variables: [
        { name: "a.b", prefixLength: null, explode: false },
        { name: "c%20d", prefixLength: 12, explode: false },
        { name: "e", prefixLength: null, explode: true },
      ],
    });
    assert.equal(t1.literalLength, 2);
  });
  await t.step(
    "any input either parses or throws UriTemplateError, and matching never throws",
    () => {
      fc.assert(
        fc.property(
          fc.string({
            unit: fc.constantFrom(
              "{",
              "}",
              "a",
              ",",
              "*",
              ":",
              "1",
              "0",
              "+",
              "?",
              "/",
              ".",
              "%",
              "=",
              " ",
            ),
          }),
          fc.string({ maxLength: 20 }),
          (text, uri) => {
            let template: UriTemplate;
            try {
              template = UriTemplate.parse(text);
            } catch (e) {
              assert.ok(e instanceof UriTemplateError, String(e));
              return;
            }
            template.match(uri);
            template.match(template.expand({ a: "x", a1: ["p", "q"] }));
          },
        ),
        { numRuns: 300 },
      );
    },
  );
});

type Op = "" | "+" | "#" | "." | "/" | ";" | "?" | "&";
const U_ALPHABET = [
  "a",
  "Z",
  "0",
  "-",
  "_",
  "~",
  " ",
  "/",
  "?",
  "&",
  "=",
  ",",
  "%",
  "é",
  "日",
  "😀",
  "#",
  ":",
  "+",
  ";",
  "!",
];
const UR_ALPHABET = ["a", "Z", "0", "-", "_", "~", " ", "é", "日", "😀", '"'];
const LITERALS = ["/", ":", "!", "@", "/api/", "!x:", "@v1/"];

interface Segment {
  literal: string;
  op: Op;
  vars: Array<{ prefix: number | null; value: string }>;
}

const segment: fc.Arbitrary<Segment> = fc.constantFrom<Op>("", "+", "#", ".", "/", ";", "?", "&")
  .chain((op) => {
    const named = op === ";" || op === "?" || op === "&";
    const alphabet = op === "+" || op === "#" ? UR_ALPHABET : U_ALPHABET;
    const value = fc.string({
      unit: fc.constantFrom(...alphabet),
      minLength: named ? 0 : 1,
      maxLength: 6,
    });
    return fc.record({
      literal: fc.constantFrom(...LITERALS),
      op: fc.constant(op),
      vars: fc.array(
        fc.record({ prefix: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }), value }),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
    });
  });

Deno.test("round trip: expand then match recovers the values", async (t) => {
  await t.step("string values under every operator and prefix modifiers", () => {
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (segments, leadingLiteral) => {
          let template = "";
          const values: Record<string, string> = {};
          const expected: Record<string, string> = {};
          let n = 0;
          segments.forEach((s, i) => {
            if (i > 0 || leadingLiteral) template += s.literal;
            const specs = s.vars.map((v) => {
              const name = `v${n++}`;
              values[name] = v.value;
              expected[name] = v.prefix === null
                ? v.value
                : [...v.value].slice(0, v.prefix).join("");
              return v.prefix === null ? name : `${name}:${v.prefix}`;
            });
            template += `{${s.op}${specs.join(",")}}`;
          });
          const parsed = UriTemplate.parse(template);
          const uri = parsed.expand(values);
          assert.deepEqual(parsed.match(uri), expected, `${template} -> ${uri}`);
        },
      ),
      { numRuns: 300 },
    );
  });
  await t.step("exploded maps under every operator that keeps '=' apart", () => {
    const ops = fc.constantFrom<Op>("", ".", "/", ";", "?", "&");
    const key = fc.string({
      unit: fc.constantFrom("a", "b", "k", "é", " ", "-"),
      minLength: 1,
      maxLength: 3,
    });
    const value = fc.string({ unit: fc.constantFrom(...U_ALPHABET), maxLength: 4 });
    fc.assert(
      fc.property(ops, fc.dictionary(key, value, { minKeys: 1, maxKeys: 4 }), (op, dictionary) => {
        const keys = Object.fromEntries(Object.entries(dictionary));
        const template = `m:{${op}map*}`;
        const uri = expandUriTemplate(template, { map: keys });
        assert.deepEqual(matchUriTemplate(template, uri), { map: keys }, `${template} -> ${uri}`);
      }),
      { numRuns: 300 },
    );
  });
  await t.step("exploded lists as the last variable of an expression", () => {
    const ops = fc.constantFrom<Op>("", ".", "/", ";", "?", "&");
    const item = fc.string({ unit: fc.constantFrom(...U_ALPHABET), minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(
        ops,
        fc.option(item, { nil: undefined }),
        fc.array(item, { minLength: 2, maxLength: 4 }),
        (op, head, list) => {
          const template = head === undefined ? `r:{${op}list*}` : `r:{${op}head,list*}`;
          const vars = head === undefined ? { list } : { head, list };
          const uri = expandUriTemplate(template, vars);
          assert.deepEqual(matchUriTemplate(template, uri), vars, `${template} -> ${uri}`);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// A reference for templates of lone, non-exploded variables: one backtracking
// regex over the whole template, as a straightforward implementation would
// write it. Slow on hostile input, exact on small ones.
function referenceMatch(parts: Array<{ literal: string; op: Op; name: string }>, uri: string) {
  const U = "[A-Za-z0-9\\-._~]|%[0-9A-Fa-f]{2}";
  const R = "[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2}";
  const esc = (t: string) => t.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  const first: Record<Op, string> = {
    "": "",
    "+": "",
    "#": "#",
    ".": ".",
    "/": "/",
    ";": ";",
    "?": "?",
    "&": "&",
  };
  let source = "";
  for (const { literal, op, name } of parts) {
    source += esc(literal);
    const reserved = op === "+" || op === "#";
    const value = reserved ? `(?:${R})*?` : `(?:${U}|,)*?`;
    if (op === ";") source += `(?:;${esc(name)}(?:=(${value}))?()|())`;
    else if (op === "?" || op === "&") {
      source += `(?:${esc(first[op])}${esc(name)}=(${value})()|())`;
    } else source += `(?:${esc(first[op])}(${value})()|())`;
  }
  const m = new RegExp(`^${source}$`).exec(uri);
  if (m === null) return null;
  const out: Record<string, MatchedValue> = {};
  try {
    parts.forEach(({ op, name }, i) => {
      const [raw, present] = [m[3 * i + 1], m[3 * i + 2]];
      if (present === undefined) return;
      const text = raw ?? "";
      const named = op === ";" || op === "?" || op === "&";
      if (!named && text === "" && first[op] === "") return;
      if (op === "+" || op === "#" || !text.includes(",")) out[name] = decodeURIComponent(text);
      else out[name] = text.split(",").map(decodeURIComponent);
    });
  } catch {
    return null;
  }
  return out;
}

Deno.test("match agrees with a whole-template regex on lone variables", () => {
  const part = fc.record({
    literal: fc.constantFrom("", "/", "a", "x/", "=", ".", ",", ";"),
    op: fc.constantFrom<Op>("", "+", "#", ".", "/", ";", "?", "&"),
    value: fc.option(
      fc.string({
        unit: fc.constantFrom("a", "x", "/", "=", ",", ".", ";", "é", "%"),
        maxLength: 4,
      }),
      { nil: undefined },
    ),
  });
  // Expansions of the template, some with one character spliced in: matches and near misses.
  const splice = fc.option(
    fc.record({
      at: fc.nat(),
      char: fc.constantFrom("a", "/", "=", ",", ".", ";", "?", "&", "%", "2"),
    }),
    { nil: undefined },
  );
  let matched = 0;
  fc.assert(
    fc.property(fc.array(part, { minLength: 1, maxLength: 3 }), splice, (raw, edit) => {
      const parts = raw.map((p, i) => ({ ...p, name: `v${i}` }));
      const template = parts.map((p) => `${p.literal}{${p.op}${p.name}}`).join("");
      let uri = expandUriTemplate(
        template,
        Object.fromEntries(parts.map((p) => [p.name, p.value])),
      );
      if (edit !== undefined) {
        const at = edit.at % (uri.length + 1);
        uri = uri.slice(0, at) + edit.char + uri.slice(at);
      }
      const actual = matchUriTemplate(template, uri);
      assert.deepEqual(actual, referenceMatch(parts, uri), `${template} ~ ${uri}`);
      if (actual !== null) matched++;
    }),
    { numRuns: 1000 },
  );
  assert.ok(matched > 300, `only ${matched} of 1000 URIs matched: the comparison is too weak`);
});
