/**
 * Which quotas a call counts against: the configured rules, each a token
 * bucket per principal for one service (or one tool of it), optionally only
 * for one subject or for holders of one scope. A call counts against every
 * rule that matches it.
 *
 * @example
 * ```ts
 * import { bucketsFor, parseQuotaRules } from "./rules.ts";
 * import { ANONYMOUS } from "../access/principal.ts";
 * const rules = parseQuotaRules([{ service: "search", ratePerSec: 5, burst: 10 }]);
 * const [bucket] = bucketsFor(rules, ANONYMOUS, "search", "query");
 * console.assert(bucket.key.startsWith("/gateway/quota/0/"));
 * ```
 *
 * @module
 */
import { hasScope, type Principal, principalKey } from "../access/principal.ts";
import { QuotaError, type QuotaRate, validateRate } from "./bucket.ts";

/** Where bucket records live in the replicated store (a reserved gateway prefix). */
export const QUOTA_PREFIX = "/gateway/quota/";

/** One configured quota. */
export interface QuotaRule extends QuotaRate {
  /** Only this subject's calls (default: every principal, each with a bucket of its own). */
  readonly principal?: string;
  /** Only calls of principals holding this scope. */
  readonly scope?: string;
  /** The service the quota is on. */
  readonly service: string;
  /** Only this tool of the service (default: every call to the service). */
  readonly tool?: string;
}

/** A bucket a call counts against. */
export interface QuotaBucket {
  /** The record's key in the store. */
  readonly key: string;
  /** Its limit. */
  readonly rate: QuotaRate;
  /** Index of the rule in the configuration, for messages. */
  readonly rule: number;
}

const RULE_FIELDS = new Set(["principal", "scope", "service", "tool", "ratePerSec", "burst"]);

/** Validates the `quotas` setting; a {@link QuotaError} names the entry and field at fault. */
export function parseQuotaRules(raw: unknown): QuotaRule[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new QuotaError(`quotas must be an array`);
  return raw.map((entry, i) => {
    const where = `quotas[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new QuotaError(`${where} must be an object`);
    }
    const e = entry as Record<string, unknown>;
    for (const field of Object.keys(e)) {
      if (!RULE_FIELDS.has(field)) throw new QuotaError(`${where}.${field} is not a quota setting`);
    }
    for (const field of ["principal", "scope", "tool"]) {
      if (e[field] !== undefined && (typeof e[field] !== "string" || e[field] === "")) {
        throw new QuotaError(`${where}.${field} must be a non-empty string`);
      }
    }
    if (typeof e.service !== "string" || e.service === "") {
      throw new QuotaError(`${where}.service must be a non-empty string`);
    }
    const rule = { ...e } as unknown as QuotaRule;
    try {
      validateRate(rule);
    } catch (error) {
      throw new QuotaError(`${where}: ${(error as Error).message}`);
    }
    return rule;
  });
}

/** The buckets a call by `principal` to `tool` of `service` counts against. */
export function bucketsFor(
  rules: readonly QuotaRule[],
  principal: Principal,
  service: string,
  tool: string,
): QuotaBucket[] {
  const buckets: QuotaBucket[] = [];
  rules.forEach((rule, i) => {
    if (rule.service !== service) return;
    if (rule.tool !== undefined && rule.tool !== tool) return;
    if (rule.principal !== undefined && rule.principal !== principal.subject) return;
    if (rule.scope !== undefined && !hasScope(principal, rule.scope)) return;
    buckets.push({
      key: `${QUOTA_PREFIX}${i}/${encodeURIComponent(principalKey(principal))}`,
      rate: { ratePerSec: rule.ratePerSec, burst: rule.burst },
      rule: i,
    });
  });
  return buckets;
}
