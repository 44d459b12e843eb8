/**
 * The `gateway.quotas` setting: a list of `{ principal?, scope?, service,
 * tool?, ratePerSec, burst }`, validated by `@safla/core/quota`; a mistake is
 * a config error that names the entry and the field.
 *
 * @module
 */
import { parseQuotaRules, QuotaError, type QuotaRule } from "@safla/core/quota";

export type { QuotaRule };

/** Validates `value` (at config key `at`), reporting problems through `fail`. */
export function parseQuotaSetting(
  value: unknown,
  at: string,
  fail: (key: string, problem: string) => never,
): QuotaRule[] {
  try {
    return parseQuotaRules(value);
  } catch (error) {
    if (!(error instanceof QuotaError)) throw error;
    // "quotas[0].service must be ..." names the field first: keep it in the key.
    const [, where, problem] = /^quotas(\S*?):?\s(.*)$/.exec(error.message) ??
      ["", "", error.message];
    return fail(`${at}${where}`, problem);
  }
}
