/**
 * The purity rule of `core/`, as a checker over source text. Test-only helper
 * (excluded from publishing and from the scan itself).
 *
 * @module
 */

/** One place where a source file breaks the purity rule. */
export interface Impurity {
  /** 1-based line number. */
  line: number;
  /** What is forbidden there. */
  reason: string;
}

const FORBIDDEN: ReadonlyArray<[RegExp, string]> = [
  [/\bDeno\s*\./, "uses the Deno runtime API"],
  [/\bDate\b/, "reads the wall clock (Date)"],
  [/\bperformance\b/, "reads a clock (performance)"],
  [/\bMath\s*\.\s*random\b/, "uses an unseeded random source (Math.random)"],
  [/\bcrypto\b/, "uses the crypto API"],
  [
    /\b(setTimeout|setInterval|clearTimeout|clearInterval|queueMicrotask|setImmediate)\b/,
    "uses timers",
  ],
  [/\bfetch\s*\(/, "uses the network (fetch)"],
  [/\b(WebSocket|XMLHttpRequest|EventSource)\b/, "uses the network"],
  [/\bprocess\s*\./, "uses the Node process API"],
  [/\bconsole\s*\./, "writes to the console"],
];

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"']+)\1/g;

/** Blanks out comments (and string/template contents unless `keepStrings`), keeping lines. */
function codeOnly(source: string, keepStrings: boolean): string {
  let out = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      while (i < source.length && source[i] !== "\n") i++;
    } else if (c === "/" && next === "*") {
      i += 2;
      while (i < source.length && !(source[i] === "*" && source[i + 1] === "/")) {
        if (source[i] === "\n") out += "\n";
        i++;
      }
      i += 2;
    } else if (c === '"' || c === "'" || c === "`") {
      out += c;
      i++;
      while (i < source.length && source[i] !== c) {
        if (source[i] === "\\") {
          if (keepStrings) out += source.slice(i, i + 2);
          i += 2;
          continue;
        }
        if (keepStrings || source[i] === "\n") out += source[i];
        i++;
      }
      out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/**
 * Lists every impurity in one core source file: forbidden globals in code
 * (comments and string contents are ignored) and imports that leave `core/`.
 *
 * @example
 * ```ts
 * findImpurities("const t = Date.now();", "x.ts"); // [{ line: 1, reason: "reads the wall clock (Date)" }]
 * ```
 */
export function findImpurities(source: string, pathInCore: string): Impurity[] {
  const found: Impurity[] = [];
  const code = codeOnly(source, false).split("\n");
  code.forEach((text, i) => {
    for (const [pattern, reason] of FORBIDDEN) {
      if (pattern.test(text)) found.push({ line: i + 1, reason });
    }
  });
  const depth = pathInCore.split("/").length - 1;
  codeOnly(source, true).split("\n").forEach((text, i) => {
    for (const match of text.matchAll(IMPORT)) {
      const specifier = match[2];
      if (!specifier.startsWith("./") && !specifier.startsWith("../")) {
        if (specifier !== "node:assert/strict") {
          found.push({ line: i + 1, reason: `imports "${specifier}" from outside core/` });
        }
        continue;
      }
      const ups = specifier.split("/").filter((part) => part === "..").length;
      if (ups > depth) {
        found.push({ line: i + 1, reason: `imports "${specifier}" from outside core/` });
      }
    }
  });
  return found;
}
