/**
 * RFC 6570 URI templates, levels 1 to 4: parse, expand, and match a concrete
 * URI back against a template to recover its variables.
 *
 * Matching is what a gateway needs to route `resources/read` of a URI to the
 * service whose resource template produced it. Expansion loses information
 * (a list and a string with commas can expand alike), so matching returns the
 * most natural reading: a value with unencoded separators reads as a list, an
 * exploded value whose items are all `key=value` reads as a map, and where
 * several splits are possible earlier variables take the shortest values, as a
 * backtracking regex with lazy quantifiers would (within one expression of
 * several variables, the split that defines the most of them wins). A template
 * that gives every variable a clear boundary (a literal or a named operator)
 * round-trips exactly.
 *
 * The URI comes from clients, so matching must not backtrack exponentially: it
 * searches (part, offset) states once each, and gives up (no match) past
 * {@link MAX_MATCH_WORK}, which only adjacent ambiguous expressions and long
 * hostile URIs reach.
 *
 * @module
 */

/** A value a variable can take when expanding. `undefined`, `null`, `[]` and `{}` are "undefined" in RFC terms. */
export type UriTemplateValue =
  | string
  | readonly string[]
  | Readonly<Record<string, string>>
  | null
  | undefined;

/** Values by variable name, for {@link UriTemplate.expand}. */
export type UriTemplateVariables = Readonly<Record<string, UriTemplateValue>>;

/** A value recovered by {@link UriTemplate.match}. */
export type MatchedValue = string | string[] | Record<string, string>;

/** The expression operators of RFC 6570 section 2.2; `""` is simple string expansion. */
export type UriTemplateOperator = "" | "+" | "#" | "." | "/" | ";" | "?" | "&";

/** One variable of an expression, with its modifier. */
export interface VarSpec {
  /** Variable name as written in the template. */
  name: string;
  /** Prefix modifier `:n` (1..9999 characters), or null. */
  prefixLength: number | null;
  /** Explode modifier `*`. */
  explode: boolean;
}

/** A parsed piece of a template. */
export type UriTemplatePart =
  | {
    /** Literal text, copied (percent-encoded where needed) into the URI. */
    kind: "literal";
    /** The text as written in the template. */
    text: string;
  }
  | {
    /** A `{...}` expression. */
    kind: "expression";
    /** Offset of its `{` in the template. */
    position: number;
    /** The operator. */
    operator: UriTemplateOperator;
    /** Its variables, in order. */
    variables: VarSpec[];
  };

/** Thrown on a malformed template or a value that cannot be expanded. */
export class UriTemplateError extends Error {
  /** The template concerned. */
  readonly template: string;
  /** 0-based offset in the template where the problem is. */
  readonly position: number;

  /** Creates the error; `reason` says what is wrong at `position`. */
  constructor(template: string, position: number, reason: string) {
    super(`URI template ${JSON.stringify(template)} at offset ${position}: ${reason}`);
    this.name = "UriTemplateError";
    this.template = template;
    this.position = position;
  }
}

/** Longest template accepted, in UTF-16 code units. */
export const MAX_TEMPLATE_LENGTH = 4096;
/** Most expressions in one template; bounds the matcher's backtracking. */
export const MAX_EXPRESSIONS = 16;
/** Most variables in one expression. */
export const MAX_VARIABLES_PER_EXPRESSION = 16;
/** Longest URI {@link UriTemplate.match} looks at; longer ones never match. */
export const MAX_MATCH_URI_LENGTH = 8192;
/**
 * Work bound of one match: characters handed to expression regexes, plus one
 * per candidate end of a lone variable. Only a
 * template with adjacent ambiguous expressions and a hostile URI reaches it;
 * the match then reports no match rather than stall the gateway.
 */
export const MAX_MATCH_WORK = 1_000_000;

interface OperatorRule {
  first: string;
  separator: string;
  named: boolean;
  ifEmpty: string;
  allowReserved: boolean;
}

// RFC 6570 appendix A, one row per operator.
const RULES: Readonly<Record<UriTemplateOperator, OperatorRule>> = {
  "": { first: "", separator: ",", named: false, ifEmpty: "", allowReserved: false },
  "+": { first: "", separator: ",", named: false, ifEmpty: "", allowReserved: true },
  "#": { first: "#", separator: ",", named: false, ifEmpty: "", allowReserved: true },
  ".": { first: ".", separator: ".", named: false, ifEmpty: "", allowReserved: false },
  "/": { first: "/", separator: "/", named: false, ifEmpty: "", allowReserved: false },
  ";": { first: ";", separator: ";", named: true, ifEmpty: "", allowReserved: false },
  "?": { first: "?", separator: "&", named: true, ifEmpty: "=", allowReserved: false },
  "&": { first: "&", separator: "&", named: true, ifEmpty: "=", allowReserved: false },
};

const OPERATORS = new Set(["+", "#", ".", "/", ";", "?", "&"]);
const FUTURE_OPERATORS = new Set(["=", ",", "!", "@", "|"]);

const isAlphaNum = (c: string): boolean => /^[A-Za-z0-9]$/.test(c);
const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9A-Fa-f]$/.test(c);
const isVarStart = (text: string, i: number): boolean =>
  isAlphaNum(text[i]) || text[i] === "_" ||
  (text[i] === "%" && isHex(text[i + 1]) && isHex(text[i + 2]));
const isUnreserved = (c: string): boolean => /^[A-Za-z0-9\-._~]$/.test(c);
const isReserved = (c: string): boolean => /^[:/?#[\]@!$&'()*+,;=]$/.test(c);

/**
 * A parsed URI template.
 *
 * @example
 * ```ts
 * import { UriTemplate } from "./uri_template.ts";
 * const t = UriTemplate.parse("file:///repos/{owner}/{repo}/issues{?state,page}");
 * console.assert(t.expand({ owner: "a", repo: "b", page: "2" }) === "file:///repos/a/b/issues?page=2");
 * const m = t.match("file:///repos/a/b/issues?state=open");
 * console.assert(m?.owner === "a" && m?.state === "open" && !("page" in m));
 * ```
 */
export class UriTemplate {
  /** The template text. */
  readonly template: string;
  /** Literals and expressions, in order. */
  readonly parts: readonly UriTemplatePart[];
  /** Distinct variable names, in order of first appearance. */
  readonly variableNames: readonly string[];
  /** Characters of literal text: more literal text means a more specific template. */
  readonly literalLength: number;
  #matcher: Matcher | null = null;

  private constructor(template: string, parts: UriTemplatePart[]) {
    this.template = template;
    this.parts = parts;
    const names: string[] = [];
    let literalLength = 0;
    for (const part of parts) {
      if (part.kind === "literal") literalLength += part.text.length;
      else for (const v of part.variables) if (!names.includes(v.name)) names.push(v.name);
    }
    this.variableNames = names;
    this.literalLength = literalLength;
  }

  /** Parses `template`; throws {@link UriTemplateError} with the offset of the first problem. */
  static parse(template: string): UriTemplate {
    return new UriTemplate(template, parseParts(template));
  }

  /**
   * Expands the template with `variables` (RFC 6570 section 3). Throws
   * {@link UriTemplateError} for a prefix modifier on a list or map value.
   */
  expand(variables: UriTemplateVariables): string {
    let out = "";
    for (const part of this.parts) {
      out += part.kind === "literal"
        ? encode(part.text, true)
        : expandExpression(this.template, part, variables);
    }
    return out;
  }

  /**
   * Matches a concrete URI against the template. Returns the values of the
   * variables that took part in the expansion (absent ones are left out), or
   * null when the URI is not an expansion of this template.
   */
  match(uri: string): Record<string, MatchedValue> | null {
    if (uri.length > MAX_MATCH_URI_LENGTH) return null;
    this.#matcher ??= compileMatcher(this.parts);
    return runMatcher(this.#matcher, uri);
  }

  /** The template text. */
  toString(): string {
    return this.template;
  }
}

/**
 * Parses a template; shorthand for {@link UriTemplate.parse}.
 *
 * @example
 * ```ts
 * import { parseUriTemplate } from "./uri_template.ts";
 * console.assert(parseUriTemplate("{/path*}").variableNames[0] === "path");
 * ```
 */
export function parseUriTemplate(template: string): UriTemplate {
  return UriTemplate.parse(template);
}

/**
 * Expands a template text with `variables`.
 *
 * @example
 * ```ts
 * import { expandUriTemplate } from "./uri_template.ts";
 * console.assert(expandUriTemplate("{?x,y}", { x: "1024", y: "768" }) === "?x=1024&y=768");
 * ```
 */
export function expandUriTemplate(template: string, variables: UriTemplateVariables): string {
  return UriTemplate.parse(template).expand(variables);
}

/**
 * Matches `uri` against a template text; see {@link UriTemplate.match}.
 *
 * @example
 * ```ts
 * import { matchUriTemplate } from "./uri_template.ts";
 * console.assert(matchUriTemplate("db://{table}/rows/{id}", "db://users/rows/7")?.id === "7");
 * ```
 */
export function matchUriTemplate(
  template: string,
  uri: string,
): Record<string, MatchedValue> | null {
  return UriTemplate.parse(template).match(uri);
}

// ---------------------------------------------------------------- parsing

function parseParts(template: string): UriTemplatePart[] {
  const fail = (position: number, reason: string): never => {
    throw new UriTemplateError(template, position, reason);
  };
  if (template.length > MAX_TEMPLATE_LENGTH) {
    fail(MAX_TEMPLATE_LENGTH, `template is longer than ${MAX_TEMPLATE_LENGTH} characters`);
  }
  const parts: UriTemplatePart[] = [];
  let literal = "";
  let expressions = 0;
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c === "{") {
      if (literal !== "") parts.push({ kind: "literal", text: literal });
      literal = "";
      const close = template.indexOf("}", i + 1);
      if (close < 0) fail(i, `"{" is never closed`);
      const nested = template.indexOf("{", i + 1);
      if (nested >= 0 && nested < close) fail(nested, `"{" inside an expression`);
      if (++expressions > MAX_EXPRESSIONS) fail(i, `more than ${MAX_EXPRESSIONS} expressions`);
      parts.push(parseExpression(template, i + 1, close, fail));
      i = close + 1;
      continue;
    }
    if (c === "}") fail(i, `"}" without a matching "{"`);
    if (c === "%") {
      if (!isHex(template[i + 1]) || !isHex(template[i + 2])) {
        fail(i, `"%" not followed by two hex digits`);
      }
      literal += template.slice(i, i + 3);
      i += 3;
      continue;
    }
    const code = c.charCodeAt(0);
    if (code <= 0x20 || code === 0x7f || `"'<>\\^\`|`.includes(c)) {
      fail(i, `character ${JSON.stringify(c)} is not allowed in a URI template literal`);
    }
    literal += c;
    i++;
  }
  if (literal !== "") parts.push({ kind: "literal", text: literal });
  return parts;
}

function parseExpression(
  template: string,
  start: number,
  end: number,
  fail: (position: number, reason: string) => never,
): UriTemplatePart {
  let i = start;
  if (i === end) fail(start - 1, "empty expression");
  let operator: UriTemplateOperator = "";
  const c = template[i];
  if (OPERATORS.has(c)) {
    operator = c as UriTemplateOperator;
    i++;
  } else if (FUTURE_OPERATORS.has(c)) {
    fail(i, `operator "${c}" is reserved for future extensions`);
  }
  const variables: VarSpec[] = [];
  while (true) {
    const nameStart = i;
    while (i < end) {
      const ch = template[i];
      if (isAlphaNum(ch) || ch === "_") i++;
      else if (ch === "%" && isHex(template[i + 1]) && isHex(template[i + 2])) i += 3;
      else if (ch === "." && i > nameStart && i + 1 < end && isVarStart(template, i + 1)) i++;
      else break;
    }
    const name = template.slice(nameStart, i);
    if (name === "") {
      fail(nameStart, `expected a variable name, found ${JSON.stringify(template[i] ?? "}")}`);
    }
    let prefixLength: number | null = null;
    let explode = false;
    if (template[i] === ":") {
      const digitsStart = ++i;
      while (i < end && /^[0-9]$/.test(template[i])) i++;
      const digits = template.slice(digitsStart, i);
      if (!/^[1-9][0-9]{0,3}$/.test(digits)) {
        fail(
          digitsStart,
          `prefix length must be 1 to 9999 without leading zeros, found ${JSON.stringify(digits)}`,
        );
      }
      prefixLength = Number(digits);
    } else if (template[i] === "*") {
      explode = true;
      i++;
    }
    variables.push({ name, prefixLength, explode });
    if (variables.length > MAX_VARIABLES_PER_EXPRESSION) {
      fail(nameStart, `more than ${MAX_VARIABLES_PER_EXPRESSION} variables in one expression`);
    }
    if (i === end) break;
    if (template[i] !== ",") fail(i, `unexpected ${JSON.stringify(template[i])} in expression`);
    i++;
  }
  return { kind: "expression", position: start - 1, operator, variables };
}

// -------------------------------------------------------------- expansion

const utf8 = new TextEncoder();

function pctEncode(char: string): string {
  let out = "";
  for (const byte of utf8.encode(char)) {
    out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Encodes `value` for the unreserved set (U) or, with `allowReserved`, for U+R. */
function encode(value: string, allowReserved: boolean): string {
  let out = "";
  let i = 0;
  while (i < value.length) {
    const c = value[i];
    if (isUnreserved(c) || (allowReserved && isReserved(c))) {
      out += c;
      i++;
    } else if (allowReserved && c === "%" && isHex(value[i + 1]) && isHex(value[i + 2])) {
      out += value.slice(i, i + 3);
      i += 3;
    } else {
      const char = String.fromCodePoint(value.codePointAt(i)!);
      out += pctEncode(char);
      i += char.length;
    }
  }
  return out;
}

/** The first `length` characters; a kept percent-encoded triplet is one character (RFC 6570 2.4.1). */
function truncate(value: string, length: number, allowReserved: boolean): string {
  let i = 0;
  for (let count = 0; count < length && i < value.length; count++) {
    if (allowReserved && value[i] === "%" && isHex(value[i + 1]) && isHex(value[i + 2])) i += 3;
    else i += String.fromCodePoint(value.codePointAt(i)!).length;
  }
  return value.slice(0, i);
}

function expandExpression(
  template: string,
  expression: Extract<UriTemplatePart, { kind: "expression" }>,
  variables: UriTemplateVariables,
): string {
  const rule = RULES[expression.operator];
  const specs = expression.variables;
  const offset = expression.position;
  const pieces: string[] = [];
  const enc = (s: string): string => encode(s, rule.allowReserved);
  for (const spec of specs) {
    const value = Object.hasOwn(variables, spec.name) ? variables[spec.name] : undefined;
    if (value === undefined || value === null) continue;
    if (typeof value === "string") {
      const text = spec.prefixLength === null
        ? value
        : truncate(value, spec.prefixLength, rule.allowReserved);
      if (!rule.named) pieces.push(enc(text));
      else pieces.push(spec.name + (text === "" ? rule.ifEmpty : "=" + enc(text)));
      continue;
    }
    const pairs: Array<[string, string]> | null = Array.isArray(value)
      ? null
      : Object.entries(value);
    const items = value as readonly string[];
    if (pairs === null ? items.length === 0 : pairs.length === 0) continue;
    for (const v of pairs === null ? items : pairs.flat()) {
      if (typeof v !== "string") {
        throw new UriTemplateError(
          template,
          offset,
          `variable "${spec.name}" holds a non-string item`,
        );
      }
    }
    if (spec.prefixLength !== null) {
      throw new UriTemplateError(
        template,
        offset,
        `prefix modifier on "${spec.name}", whose value is a ${pairs === null ? "list" : "map"}`,
      );
    }
    if (!spec.explode) {
      const joined = pairs === null
        ? items.map(enc).join(",")
        : pairs.map(([k, v]) => `${enc(k)},${enc(v)}`).join(",");
      pieces.push(rule.named ? `${spec.name}=${joined}` : joined);
    } else if (pairs === null) {
      const each = (v: string): string =>
        rule.named ? spec.name + (v === "" ? rule.ifEmpty : "=" + enc(v)) : enc(v);
      pieces.push(items.map(each).join(rule.separator));
    } else {
      const each = ([k, v]: [string, string]): string =>
        rule.named && v === "" ? enc(k) + rule.ifEmpty : `${enc(k)}=${enc(v)}`;
      pieces.push(pairs.map(each).join(rule.separator));
    }
  }
  return pieces.length === 0 ? "" : rule.first + pieces.join(rule.separator);
}

// --------------------------------------------------------------- matching

interface VarGroup {
  group: number;
  spec: VarSpec;
  rule: OperatorRule;
}

/** One expression, matched on its own against a candidate piece of the URI. */
interface ExpressionMatcher {
  kind: "expression";
  /** Anchored regex of the whole expansion; group 1 is the whole text, then one group per variable occurrence. */
  regex: RegExp;
  rule: OperatorRule;
  vars: VarGroup[];
  /** ASCII codes that may occur in the expansion outside percent-encoded triplets. */
  allowed: Uint8Array;
  /** For a lone non-exploded variable, the shape that lets a candidate be checked in O(1). */
  single: SingleVar | null;
}

/** `{x}`, `{+x}`, `{/x}`, `{?x}`...: `lead`, then for named operators `=`, then the value. */
interface SingleVar {
  /** Text before the value: the operator's `first`, plus the name for named operators. */
  lead: string;
  /** Length of `first`: the variable's group starts after it. */
  firstLength: number;
  /** Whether `=` separates name and value: always for `?` and `&`, unless empty for `;`. */
  equals: "none" | "required" | "optional";
  /** ASCII codes the value may hold outside percent-encoded triplets. */
  valueAllowed: Uint8Array;
}

type PartMatcher = { kind: "literal"; text: string } | ExpressionMatcher;

interface Matcher {
  parts: PartMatcher[];
}

/** Captured groups of one expression: 1 is the whole text, then one per variable occurrence. */
type Groups = ReadonlyArray<string | undefined>;

const U_CHAR = "[A-Za-z0-9\\-._~]|%[0-9A-Fa-f]{2}";
const R_CHAR = "[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2}";
const UNRESERVED_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
const RESERVED_CHARS = ":/?#[]@!$&'()*+,;=";

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");

function compileMatcher(parts: readonly UriTemplatePart[]): Matcher {
  return {
    parts: parts.map((part): PartMatcher =>
      part.kind === "literal"
        ? { kind: "literal", text: encode(part.text, true) }
        : compileExpression(part.operator, part.variables)
    ),
  };
}

function compileExpression(operator: UriTemplateOperator, specs: VarSpec[]): ExpressionMatcher {
  const rule = RULES[operator];
  let groups = 1;
  const vars: VarGroup[] = [];
  const varPattern = (spec: VarSpec): string => {
    vars.push({ group: ++groups, spec, rule });
    return `(${valuePattern(spec, rule)})`;
  };
  const sep = escapeRegex(rule.separator);
  let body: string;
  if (rule.first === rule.separator) {
    body = specs.map((spec) => `(?:${sep}${varPattern(spec)})?`).join("");
  } else {
    // The first defined variable follows `first`, the others follow `separator`:
    // one branch per choice of first defined variable.
    const branches: string[] = [];
    for (let k = 0; k < specs.length; k++) {
      let branch = varPattern(specs[k]);
      for (const spec of specs.slice(k + 1)) branch += `(?:${sep}${varPattern(spec)})?`;
      branches.push(branch);
    }
    body = `(?:${escapeRegex(rule.first)}(?:${branches.join("|")}))?`;
  }
  const allowed = asciiSet(
    UNRESERVED_CHARS + (rule.allowReserved ? RESERVED_CHARS : `,=${rule.first}${rule.separator}`),
  );
  let single: SingleVar | null = null;
  if (specs.length === 1 && !specs[0].explode) {
    const spec = specs[0];
    // Mirrors valuePattern: reserved characters pass in U+R; a prefix value cannot be a list.
    const valueChars = rule.allowReserved
      ? UNRESERVED_CHARS + RESERVED_CHARS
      : UNRESERVED_CHARS + (spec.prefixLength === null ? "," : "");
    single = {
      lead: rule.first + (rule.named ? spec.name : ""),
      firstLength: rule.first.length,
      equals: !rule.named ? "none" : rule.ifEmpty === "=" ? "required" : "optional",
      valueAllowed: asciiSet(valueChars),
    };
  }
  return { kind: "expression", regex: new RegExp(`^(${body})$`), rule, vars, allowed, single };
}

function asciiSet(chars: string): Uint8Array {
  const set = new Uint8Array(128);
  for (const c of chars) set[c.charCodeAt(0)] = 1;
  return set;
}

/** The regex of one variable's expansion (after its leading `first`/separator). */
function valuePattern(spec: VarSpec, rule: OperatorRule): string {
  const char = rule.allowReserved ? R_CHAR : U_CHAR;
  const listValue = spec.prefixLength === null ? `(?:${char}|,)*?` : `(?:${char})*?`;
  const name = escapeRegex(spec.name);
  if (!spec.explode) {
    if (!rule.named) return rule.allowReserved ? `(?:${char})*?` : listValue;
    return rule.ifEmpty === "=" ? `${name}=${listValue}` : `${name}(?:=${listValue})?`;
  }
  const sep = escapeRegex(rule.separator);
  if (!rule.named) {
    // Items must not contain the separator, or the nested repetition could backtrack exponentially.
    if (rule.allowReserved) return `(?:${char})*?`;
    const itemChar = rule.separator === "." ? "[A-Za-z0-9\\-_~=]|%[0-9A-Fa-f]{2}" : `${char}|=`;
    const item = `(?:${itemChar})*?`;
    return `${item}(?:${sep}${item})*?`;
  }
  const key = `(?:${U_CHAR})+?`;
  const item = rule.ifEmpty === "=" ? `${key}=(?:${U_CHAR})*?` : `${key}(?:=(?:${U_CHAR})*?)?`;
  return `${item}(?:${sep}${item})*?`;
}

class NotAMatch extends Error {}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new NotAMatch();
  }
}

/**
 * Finds where each expression of the template starts and ends in `uri`:
 * a depth-first search over (part, offset) with failed states remembered, so
 * that ambiguous templates cost polynomial rather than exponential time. An
 * expression may only span characters its operator can produce and must end
 * where the next literal begins; among candidate ends the shortest is tried
 * first. Returns each expression's regex match, or null.
 */
function locateExpressions(matcher: Matcher, uri: string): Array<Groups | null> | null {
  const n = uri.length;
  const parts = matcher.parts;
  // Most templates start with a scheme and end with a fixed tail: reject cheaply on those.
  const head = parts[0];
  const tail = parts[parts.length - 1];
  if (head?.kind === "literal" && !uri.startsWith(head.text)) return null;
  if (tail?.kind === "literal" && !uri.endsWith(tail.text)) return null;
  // Offsets inside a percent-encoded triplet can never be a boundary.
  const interior = new Uint8Array(n + 1);
  for (let i = 0; i + 2 < n; i++) {
    if (uri[i] === "%" && isHex(uri[i + 1]) && isHex(uri[i + 2])) {
      interior[i + 1] = interior[i + 2] = 1;
    }
  }
  const runEnds: Array<Int32Array | null> = parts.map(() => null);
  const valueRunEnds: Array<Int32Array | null> = parts.map(() => null);
  const runEnd = (p: number, pos: number): number => {
    let ends = runEnds[p];
    if (ends === null) {
      ends = runEndsFor((parts[p] as ExpressionMatcher).allowed, uri);
      runEnds[p] = ends;
    }
    return ends[pos];
  };
  const valueRunEnd = (p: number, pos: number): number => {
    let ends = valueRunEnds[p];
    if (ends === null) {
      ends = runEndsFor((parts[p] as ExpressionMatcher).single!.valueAllowed, uri);
      valueRunEnds[p] = ends;
    }
    return ends[pos];
  };
  // The groups a lone variable's regex would capture for uri[pos, end), or null if it would fail.
  const singleGroups = (p: number, single: SingleVar, pos: number, end: number): Groups | null => {
    if (end === pos) return ["", "", undefined];
    if (!uri.startsWith(single.lead, pos)) return null;
    let valueStart = pos + single.lead.length;
    if (end < valueStart) return null;
    if (single.equals === "required" || (single.equals === "optional" && end > valueStart)) {
      if (end === valueStart || uri[valueStart] !== "=") return null;
      valueStart++;
    }
    if (end > valueStart && valueRunEnd(p, valueStart) < end) return null;
    const text = uri.slice(pos, end);
    return [text, text, text.slice(single.firstLength)];
  };
  const captures: Array<Groups | null> = parts.map(() => null);
  const failed = new Set<number>();
  let budgetChars = MAX_MATCH_WORK;
  const solve = (p: number, pos: number): boolean => {
    if (p === parts.length) return pos === n;
    const key = p * (n + 1) + pos;
    if (failed.has(key)) return false;
    const part = parts[p];
    if (part.kind === "literal") {
      if (uri.startsWith(part.text, pos) && solve(p + 1, pos + part.text.length)) return true;
    } else {
      const maxEnd = runEnd(p, pos);
      const next = parts[p + 1];
      const single = part.single;
      if (single !== null) {
        const tryEnd = (end: number): boolean => {
          if (interior[end]) return false;
          if (next?.kind === "literal" && !uri.startsWith(next.text, end)) return false;
          if (--budgetChars < 0) throw new NotAMatch();
          const groups = singleGroups(p, single, pos, end);
          if (groups === null) return false;
          captures[p] = groups;
          return solve(p + 1, end);
        };
        // In the order a regex `(?:lead(?:=(value*?))?)?` tries them: the shortest
        // value first (so with an empty lead the empty expansion comes first),
        // `;name` without `=` after every `;name=...`, the empty expansion last.
        let matched = false;
        if (next === undefined) {
          matched = n <= maxEnd && tryEnd(n);
        } else if (single.lead === "") {
          for (let end = pos; end <= maxEnd && !matched; end++) matched = tryEnd(end);
        } else {
          const bare = single.equals === "optional" ? pos + single.lead.length : -1;
          for (let end = pos + 1; end <= maxEnd && !matched; end++) {
            if (end !== bare) matched = tryEnd(end);
          }
          if (!matched && bare !== -1 && bare <= maxEnd) matched = tryEnd(bare);
          matched ||= tryEnd(pos);
        }
        if (matched) return true;
        failed.add(key);
        return false;
      }
      // Prefer, as a regex of optional groups with lazy values would, the expansion that
      // defines the most variables, and among those the shortest.
      const candidates: Array<{ end: number; m: Groups; defined: number }> = [];
      for (let end = next === undefined ? n : pos; end <= maxEnd; end++) {
        if (interior[end]) continue;
        if (next?.kind === "literal" && !uri.startsWith(next.text, end)) continue;
        budgetChars -= end - pos + 1;
        if (budgetChars < 0) throw new NotAMatch();
        const m = part.regex.exec(uri.slice(pos, end));
        if (m === null) continue;
        let defined = 0;
        if (m[1] !== "" || part.rule.named) {
          for (const v of part.vars) if (m[v.group] !== undefined) defined++;
        }
        candidates.push({ end, m, defined });
      }
      candidates.sort((a, b) => b.defined - a.defined || a.end - b.end);
      for (const { end, m } of candidates) {
        captures[p] = m;
        if (solve(p + 1, end)) return true;
      }
    }
    failed.add(key);
    return false;
  };
  return solve(0, 0) ? captures : null;
}

/** For each offset, how far a run of characters from `allowed` (or valid triplets) reaches. */
function runEndsFor(allowed: Uint8Array, uri: string): Int32Array {
  const n = uri.length;
  const ends = new Int32Array(n + 1);
  ends[n] = n;
  for (let i = n - 1; i >= 0; i--) {
    const code = uri.charCodeAt(i);
    if (code === 0x25) {
      ends[i] = isHex(uri[i + 1]) && isHex(uri[i + 2]) ? ends[Math.min(i + 3, n)] : i;
    } else {
      ends[i] = code < 128 && allowed[code] === 1 ? ends[i + 1] : i;
    }
  }
  return ends;
}

function runMatcher(matcher: Matcher, uri: string): Record<string, MatchedValue> | null {
  const occurrences = new Map<
    string,
    Array<{ value: MatchedValue; prefixLength: number | null }>
  >();
  try {
    const captures = locateExpressions(matcher, uri);
    if (captures === null) return null;
    matcher.parts.forEach((part, p) => {
      const m = captures[p];
      if (part.kind === "literal" || m === null) return;
      // An unnamed expression that expanded to nothing had no defined variable.
      if (m[1] === "" && !part.rule.named) return;
      for (const v of part.vars) {
        const text = m[v.group];
        if (text === undefined) continue;
        const value = decodeValue(text, v.spec, v.rule);
        const seen = occurrences.get(v.spec.name);
        if (seen === undefined) {
          occurrences.set(v.spec.name, [{ value, prefixLength: v.spec.prefixLength }]);
        } else seen.push({ value, prefixLength: v.spec.prefixLength });
      }
    });
  } catch (e) {
    if (e instanceof NotAMatch) return null;
    throw e;
  }
  const out: Record<string, MatchedValue> = {};
  for (const [name, seen] of occurrences) {
    const value = agreedValue(seen);
    if (value === null) return null;
    out[name] = value;
  }
  return out;
}

/**
 * The value of a variable that occurs more than once: the occurrences must
 * agree, a prefix occurrence agreeing with the start of a full one.
 */
function agreedValue(
  seen: Array<{ value: MatchedValue; prefixLength: number | null }>,
): MatchedValue | null {
  const full = seen.find((s) => s.prefixLength === null) ??
    seen.reduce((a, b) =>
      typeof a.value === "string" && typeof b.value === "string" &&
        [...b.value].length > [...a.value].length
        ? b
        : a
    );
  const fullText = JSON.stringify(full.value);
  for (const s of seen) {
    if (s.prefixLength === null || typeof full.value !== "string") {
      if (JSON.stringify(s.value) !== fullText) return null;
    } else if ([...full.value].slice(0, s.prefixLength).join("") !== s.value) {
      return null;
    }
  }
  return full.value;
}

function decodeValue(text: string, spec: VarSpec, rule: OperatorRule): MatchedValue {
  if (!spec.explode) {
    let raw = text;
    if (rule.named) {
      raw = text.slice(spec.name.length);
      raw = raw.startsWith("=") ? raw.slice(1) : raw;
    }
    if (spec.prefixLength !== null) {
      const value = decode(raw);
      if ([...value].length > spec.prefixLength && !rule.allowReserved) throw new NotAMatch();
      return value;
    }
    if (rule.allowReserved || !raw.includes(",")) return decode(raw);
    return raw.split(",").map(decode);
  }
  const items = text.split(rule.separator);
  if (rule.named) {
    const pairs = items.map((item): [string, string] => {
      const eq = item.indexOf("=");
      return eq < 0 ? [decode(item), ""] : [decode(item.slice(0, eq)), decode(item.slice(eq + 1))];
    });
    if (pairs.every(([k]) => k === spec.name)) return pairs.map(([, v]) => v);
    return Object.fromEntries(pairs);
  }
  if (items.length > 0 && items.every((item) => item.includes("="))) {
    return Object.fromEntries(items.map((item) => {
      const eq = item.indexOf("=");
      return [decode(item.slice(0, eq)), decode(item.slice(eq + 1))];
    }));
  }
  return items.map(decode);
}
