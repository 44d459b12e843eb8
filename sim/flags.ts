/**
 * One flag parser for the simulator's command lines (`sim/main.ts`,
 * `sim/mcp/main.ts`, `sim/watch/main.ts`), on `node:util`'s `parseArgs`: each
 * accepts `--flag value` and `--flag=value`, refuses unknown flags and stray
 * words, and names the flag that is wrong.
 *
 * @example
 * ```ts
 * import { integerFlag, parseFlags } from "./flags.ts";
 * const values = parseFlags(["--seed=7"], { seed: { type: "string" } }, "usage: ...");
 * console.assert(integerFlag(values, "seed", 0, 100) === 7);
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";

/** A command line the simulator does not accept; the message says why and how to call it. */
export class UsageError extends Error {
  /** Describes the bad flag. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The flags a command accepts, in `node:util` `parseArgs` form. */
export type FlagSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

/** Parsed flags: a string or `true` for each flag given. */
export type FlagValues = Readonly<Record<string, string | boolean | undefined>>;

/** Parses `args` against `spec`; any problem is a {@link UsageError} that ends with `usage`. */
export function parseFlags(args: readonly string[], spec: FlagSpec, usage: string): FlagValues {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: spec,
      strict: true,
      allowPositionals: false,
    });
    return { ...values };
  } catch (error) {
    throw new UsageError(`${reason(error)}\n${usage}`);
  }
}

function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  const flag = /'(-{1,2}[\w-]+)/.exec(message)?.[1] ?? "a flag";
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `unknown flag "${flag}"`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    return message.includes("does not take")
      ? `${flag} takes no value`
      : `${flag} needs a value (one that starts with "-" goes as ${flag}=VALUE)`;
  }
  return message.split("\n")[0];
}

/** Flag `name` as an integer in [min, max]; undefined when it was not given. */
export function integerFlag(
  values: FlagValues,
  name: string,
  min: number,
  max: number,
): number | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    typeof value !== "string" || value.trim() === "" || !Number.isSafeInteger(n) || n < min ||
    n > max
  ) {
    throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got "${value}"`);
  }
  return n;
}

/** Flag `name` when it is one of `allowed`; undefined when it was not given. */
export function choiceFlag<T extends string>(
  values: FlagValues,
  name: string,
  allowed: readonly T[],
): T | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of: ${allowed.join(", ")}; got "${value}"`);
  }
  return value as T;
}
