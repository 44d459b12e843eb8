/**
 * The config file's `policies`: the same validation as policies written at
 * runtime, its errors in the config's shape (file, key, problem).
 *
 * @module
 */
import { parsePolicies, type Policy, PolicyError } from "@safla/core/access";

/** Validates `value` as the config's policy list; `fail(key, problem)` reports the first problem. */
export function parseConfigPolicies(
  value: unknown,
  fail: (key: string, problem: string) => never,
): Policy[] {
  try {
    return parsePolicies(value, "policies");
  } catch (error) {
    if (error instanceof PolicyError) fail(error.path, error.problem);
    throw error;
  }
}
