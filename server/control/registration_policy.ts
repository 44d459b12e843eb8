/**
 * What a runtime registration (a service record in the replicated registry,
 * written by `register_server`) may run and reach, decided from the rules of
 * the node that is about to use it (`management_config.ts`). Services in a
 * node's own config file are the operator's and are not checked here.
 *
 * - stdio: the command, resolved to an absolute path without symlinks, and its
 *   arguments must match a rule of `registration.commands`; no `cwd`.
 * - HTTP: the URL's host must match `registration.httpHosts`, and every
 *   address it resolves to must be public, unless `allowPrivateNetworks`
 *   (loopback, private ranges) or the host is named exactly (link-local and
 *   metadata addresses, which cloud credentials live behind).
 * - Secrets: every `env` value and header value is a reference,
 *   `${env:NAME}` or `${file:PATH}` (optionally after a scheme word such as
 *   `Bearer `), on the `registration.secrets` allow-list: the replicated
 *   registry never holds a literal secret, and a registration cannot point a
 *   backend at a node secret the operator did not offer.
 *
 * The decisions here are pure; `registration_check.ts` resolves paths and
 * names and calls them.
 *
 * @module
 */
import type { BackendSpec } from "@safla/transports";
import type { CommandRule, RegistrationRules } from "./management_config.ts";

/** A registration this node refuses to run or reach, with what the operator can do about it. */
export class RegistrationRefusedError extends Error {
  /** `field`: where in the record the problem is. */
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = "RegistrationRefusedError";
  }
}

/** Names that reach cloud metadata services (credentials) whatever they resolve to. */
const METADATA_NAMES = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
  "metadata.azure.internal",
  "169.254.169.254",
  "fd00:ec2::254",
]);

/** A reference to a secret: `${env:NAME}` or `${file:PATH}`, optionally after one scheme word. */
const SECRET_REFERENCE = /^(?:[A-Za-z][A-Za-z0-9-]* )?\$\{(env|file):([^}\s]+)\}$/;

/** What kind of network an address is on. */
export type AddressClass = "public" | "private" | "loopback" | "linkLocal" | "unspecified";

function ipv4Octets(address: string): number[] | undefined {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p))) return undefined;
  const octets = parts.map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/** The 16-bit groups of an IPv6 address, or undefined if it is not one. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.toLowerCase().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (!text.includes(":")) return undefined;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = ipv4Octets(v4[1]);
    if (!o) return undefined;
    text = text.slice(0, -v4[1].length) +
      `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string) => s === "" ? [] : s.split(":");
  const head = parse(halves[0]);
  const tail = halves.length === 2 ? parse(halves[1]) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array(missing).fill("0"), ...tail];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16));
}

function classifyIpv4([a, b]: number[]): AddressClass {
  if (a === 0) return "unspecified";
  if (a === 127) return "loopback";
  if (a === 169 && b === 254) return "linkLocal";
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return "private";
  if (a === 100 && b >= 64 && b <= 127) return "private"; // carrier-grade NAT
  if (a >= 224) return "private"; // multicast and reserved
  return "public";
}

/**
 * The network class of an IP address (v4 or v6, IPv4-mapped included);
 * undefined when `address` is not an IP literal.
 */
export function classifyAddress(address: string): AddressClass | undefined {
  const v4 = ipv4Octets(address);
  if (v4) return classifyIpv4(v4);
  const g = ipv6Groups(address);
  if (!g) return undefined;
  if (g.every((x) => x === 0)) return "unspecified";
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return "loopback";
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return classifyIpv4([g[6] >> 8, g[6] & 0xff, g[7] >> 8, g[7] & 0xff]);
  }
  if ((g[0] & 0xffc0) === 0xfe80) return "linkLocal";
  if ((g[0] & 0xfe00) === 0xfc00) return "private"; // unique local, fd00:ec2::254 among them
  if ((g[0] & 0xff00) === 0xff00) return "private"; // multicast
  return "public";
}

/** Whether `host` (lower case, no brackets) with `port` matches an `httpHosts` entry. */
export function hostAllowed(host: string, port: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => {
    if (pattern === "*") return true;
    const [name, patternPort] = splitHostPort(pattern);
    if (patternPort !== undefined && patternPort !== port) return false;
    if (name.startsWith("*.")) return host.endsWith(name.slice(1)) && host !== name.slice(2);
    return host === name;
  });
}

/** Whether `host` is named exactly (not by a wildcard) in the `httpHosts` entries. */
export function hostNamedExactly(host: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => splitHostPort(p)[0] === host);
}

function splitHostPort(pattern: string): [string, string | undefined] {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(pattern);
  if (bracketed) return [bracketed[1], bracketed[2]];
  const colons = pattern.split(":").length - 1;
  if (colons === 1) {
    const [name, port] = pattern.split(":");
    return [name, port];
  }
  return [pattern, undefined];
}

/** Whether an address of `cls` may be reached for `host` under `rules`. */
export function addressAllowed(
  cls: AddressClass,
  host: string,
  rules: RegistrationRules,
): boolean {
  if (cls === "public") return true;
  if (cls === "linkLocal" || cls === "unspecified") return hostNamedExactly(host, rules.httpHosts);
  return rules.allowPrivateNetworks || hostNamedExactly(host, rules.httpHosts);
}

/** Whether a metadata name is allowed (only when named exactly). */
export function isMetadataName(host: string): boolean {
  return METADATA_NAMES.has(host.replace(/\.$/, ""));
}

function globMatches(pattern: string, value: string): boolean {
  const parts = pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join(".*")}$`, "s").test(value);
}

/** Whether `args` match a rule's patterns (`*` within one argument; a last `...` for the rest). */
export function argsAllowed(rule: CommandRule, args: readonly string[]): boolean {
  const patterns = rule.args ?? [];
  const rest = patterns[patterns.length - 1] === "...";
  const fixed = rest ? patterns.slice(0, -1) : patterns;
  if (rest ? args.length < fixed.length : args.length !== fixed.length) return false;
  return fixed.every((pattern, i) => globMatches(pattern, args[i]));
}

/** Whether `pattern` from `registration.secrets` (e.g. `env:GITHUB_*`) allows `kind:name`. */
function secretAllowed(kind: string, name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => globMatches(p, `${kind}:${name}`));
}

/**
 * Checks that every value is a reference to an offered secret.
 *
 * @example
 * ```ts
 * import { checkSecretReferences } from "./registration_policy.ts";
 * checkSecretReferences({ Authorization: "Bearer ${env:GH_TOKEN}" }, "headers", ["env:GH_*"]);
 * ```
 */
export function checkSecretReferences(
  values: Readonly<Record<string, string>> | undefined,
  field: string,
  allowed: readonly string[],
): void {
  for (const [name, value] of Object.entries(values ?? {})) {
    const match = SECRET_REFERENCE.exec(value);
    if (!match) {
      throw new RegistrationRefusedError(
        `${field}.${name}`,
        "a registered record may not hold a literal value here; use a reference such as " +
          '"${env:NAME}" or "${file:/run/secrets/name}" (the registry is replicated to every node)',
      );
    }
    if (!secretAllowed(match[1], match[2], allowed)) {
      throw new RegistrationRefusedError(
        `${field}.${name}`,
        `${match[1]}:${match[2]} is not offered to runtime registrations ` +
          `(management.registration.secrets of this node)`,
      );
    }
  }
}

/** The checks of one replica that need nothing resolved: secrets and `cwd`. */
export function checkReplicaStatic(
  spec: BackendSpec,
  field: string,
  rules: RegistrationRules,
): void {
  const secrets = rules.secrets;
  if (spec.kind === "stdio") {
    if (spec.cwd !== undefined) {
      throw new RegistrationRefusedError(`${field}.cwd`, "not allowed in a runtime registration");
    }
    checkSecretReferences(spec.env, `${field}.env`, secrets);
  } else {
    checkSecretReferences(spec.headers, `${field}.headers`, secrets);
  }
}
